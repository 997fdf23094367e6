import type { Strand } from './types';

// TIA-598 fiber colour code, positions 1..12 (13..24 repeat with a black tracer; black itself gets yellow).
export const TIA598: [string, string][] = [
  ['blue', '#0057b8'], ['orange', '#ff7f00'], ['green', '#00a651'], ['brown', '#8b4513'],
  ['slate', '#708090'], ['white', '#ffffff'], ['red', '#e4002b'], ['black', '#111111'],
  ['yellow', '#ffd100'], ['violet', '#7f3fbf'], ['rose', '#ff8fb1'], ['aqua', '#00c1d5'],
];
const BY_NAME = Object.fromEntries(TIA598);

export function strandColor(s: Strand): { name: string; hex: string; stripe: string | null } {
  const n = Math.max(1, Number(s.number) || 1);
  const [baseName, baseHex] = TIA598[(n - 1) % 12];
  let name = baseName;
  let hex = baseHex;
  if (s.color) {
    const c = s.color.toLowerCase().split(/[\s/-]+/)[0];
    if (BY_NAME[c]) {
      name = c;
      hex = BY_NAME[c];
    }
  }
  const group = Math.floor((n - 1) / 12);
  const stripe = group === 0 ? null : name === 'black' ? '#ffd100' : '#111111';
  return { name: group ? `${name} with ${name === 'black' ? 'yellow' : 'black'} tracer` : name, hex, stripe };
}
