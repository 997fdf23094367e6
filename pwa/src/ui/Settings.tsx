import { useState } from 'preact/hooks';
import { auth, logout } from '../api';
import { outbox } from '../outbox';
import { setTheme, setTileUrl, theme, tileUrl, type Theme } from '../theme';
import { toast, useStore } from '../store';

export function Settings() {
  const a = useStore(auth);
  const t = useStore(theme);
  const tiles = useStore(tileUrl);
  const [tileDraft, setTileDraft] = useState(tiles);
  const pending = useStore(outbox).length;
  return (
    <section class="page">
      <div class="page-head"><h1 tabIndex={-1}>Settings</h1></div>
      <div class="card">
        <h2>Signed in</h2>
        <p class="big">{a.me?.display_name || a.tokens?.email}</p>
        <p class="muted">{a.me?.email || a.tokens?.email}</p>
        <button class="btn" data-testid="logout" onClick={() => {
          if (pending && !confirm(`${pending} item(s) are still waiting to be sent. They stay on this tablet and are sent after the next sign-in. Sign out?`)) return;
          logout();
        }}>Sign out</button>
      </div>
      <div class="card">
        <h2>Appearance</h2>
        <div class="seg" role="radiogroup" aria-label="Theme">
          {(['system', 'light', 'dark'] as Theme[]).map((x) => (
            <button key={x} role="radio" aria-checked={t === x} class={t === x ? 'seg-on' : ''} onClick={() => setTheme(x)}>
              {x === 'system' ? 'Follow device' : x === 'light' ? 'Light (sunlight)' : 'Dark'}
            </button>
          ))}
        </div>
      </div>
      <div class="card">
        <h2>Map background</h2>
        <p class="muted">Maps draw the fiber plant without any tile server. Optionally enter a tile URL template (for example a tile server on your own network); leave empty to work fully offline.</p>
        <label class="field">
          <span>Tile URL template</span>
          <input type="url" placeholder="empty: no background tiles" value={tileDraft} onInput={(e) => setTileDraft((e.target as HTMLInputElement).value)} />
        </label>
        <button class="btn" onClick={() => {
          const v = tileDraft.trim();
          if (v && !/\{z\}.*\{x\}.*\{y\}/.test(v)) return toast('The template needs {z}, {x} and {y}.', 'error');
          setTileUrl(v);
          toast('Saved', 'ok', 2000);
        }}>Save</button>
      </div>
    </section>
  );
}
