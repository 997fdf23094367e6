import { createStore } from './store';
export type Theme = 'system' | 'light' | 'dark';
const KEY = 'dmf.theme';
export const theme = createStore<Theme>((localStorage.getItem(KEY) as Theme) || 'system');
// Applied when the bundle starts (no inline script in index.html, so a strict CSP works).
if (theme.get() !== 'system') document.documentElement.dataset.theme = theme.get();
export function setTheme(t: Theme) {
  theme.set(t);
  if (t === 'system') {
    localStorage.removeItem(KEY);
    delete document.documentElement.dataset.theme;
  } else {
    localStorage.setItem(KEY, t);
    document.documentElement.dataset.theme = t;
  }
}
export function isDark(): boolean {
  const t = theme.get();
  return t === 'dark' || (t === 'system' && matchMedia('(prefers-color-scheme: dark)').matches);
}
const TILE_KEY = 'dmf.tileUrl';
export const tileUrl = createStore<string>(localStorage.getItem(TILE_KEY) || '');
export function setTileUrl(u: string) {
  tileUrl.set(u);
  if (u) localStorage.setItem(TILE_KEY, u);
  else localStorage.removeItem(TILE_KEY);
}
