import { createStore } from './store';

export interface Route { name: string; params: Record<string, string>; query: URLSearchParams }

const PATTERNS: [string, RegExp, string[]][] = [
  ['login', /^\/login$/, []],
  ['jobs', /^\/jobs$/, []],
  ['map', /^\/map$/, []],
  ['job', /^\/jobs\/([^/]+)$/, ['id']],
  ['closure', /^\/closures\/([^/]+)$/, ['id']],
  ['sync', /^\/sync$/, []],
  ['settings', /^\/settings$/, []],
];

export function parse(hash: string): Route {
  const h = hash.replace(/^#/, '') || '/jobs';
  const [path, qs] = h.split('?');
  for (const [name, re, keys] of PATTERNS) {
    const m = re.exec(path);
    if (m) {
      const params: Record<string, string> = {};
      keys.forEach((k, i) => (params[k] = decodeURIComponent(m[i + 1])));
      return { name, params, query: new URLSearchParams(qs || '') };
    }
  }
  return { name: 'jobs', params: {}, query: new URLSearchParams() };
}

export const route = createStore<Route>(parse(location.hash));
addEventListener('hashchange', () => route.set(parse(location.hash)));
export const go = (h: string) => {
  location.hash = h;
};
