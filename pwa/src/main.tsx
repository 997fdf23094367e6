import 'leaflet/dist/leaflet.css';
import './app.css';
import { render } from 'preact';
import { App } from './ui/App';
import { loadOutbox } from './outbox';
import { pollSync, prefetchJobs } from './data';
import { startWatching } from './geo';
import { auth } from './api';

if (auth.get().tokens && /^#?\/?(jobs|map)?$/.test(location.hash.replace(/^#\//, ''))) prefetchJobs();
render(<App />, document.getElementById('app')!);
void loadOutbox();
void pollSync();
if (auth.get().tokens) startWatching();

if ('serviceWorker' in navigator && location.protocol !== 'file:') {
  addEventListener('load', () => {
    navigator.serviceWorker.register('sw.js').catch(() => undefined);
  });
}
