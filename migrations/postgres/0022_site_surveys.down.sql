DROP TABLE IF EXISTS survey_los_paths;
DROP TABLE IF EXISTS survey_points;
DROP TABLE IF EXISTS wireless_site_surveys;
