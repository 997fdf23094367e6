DROP TABLE IF EXISTS survey_submissions;
DROP TABLE IF EXISTS survey_responses;
DROP TABLE IF EXISTS survey_templates;
