// Everything that needs Leaflet, loaded on demand (keeps the first load small).
export { JobsMap } from './JobsMap';
export { SiteMap } from './SiteMap';
