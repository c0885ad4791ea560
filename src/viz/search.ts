/**
 * Search over every node of the plan and of the branches and bodies of its control-flow nodes, by name
 * or op. Pure (no DOM): the graph view lists and highlights the hits.
 */
import type { Plan } from '../plan/schema.js';
import type { ViewModel } from './model.js';
import { ownerName, subKey } from './scene.js';

export interface SearchEntry {
  key: string;
  name: string;
  op: string;
  folded: boolean;
  /** For nodes of subgraphs: where they are (`If_0 › else_branch, pruned`). */
  inside?: string;
  /** Listed in this order among equal matches: 0 plan nodes and kept branches, 1 not inferred, 2 pruned. */
  rank: number;
  /** Lower-cased name and op, for matching. */
  lname: string;
  lop: string;
}

export function searchIndex(plan: Plan, view: ViewModel | undefined): SearchEntry[] {
  const entry = (key: string, name: string, op: string, folded: boolean, rank: number, inside?: string): SearchEntry =>
    ({ key, name, op, folded, rank, lname: name.toLowerCase(), lop: op.toLowerCase(), ...(inside ? { inside } : {}) });
  const index = plan.nodes.map((n) => entry(`n${n.index}`, n.name, n.op, !!n.folded, 0));
  view?.subgraphs.forEach((b, g) => {
    const inside = `${ownerName(plan, view, g)} › ${b.attr}${b.status === 'kept' ? '' : `, ${b.status}`}`;
    const rank = b.status === 'kept' ? 0 : b.status === 'not inferred' ? 1 : 2;
    b.nodes.forEach((n, k) => index.push(entry(subKey(g, k), n.name, n.op, false, rank, inside)));
  });
  return index;
}

/** Entries whose name or op holds the query (case-insensitive): exact names first, then by rank. */
export function searchHits(index: readonly SearchEntry[], query: string): SearchEntry[] {
  const q = query.toLowerCase();
  const exact: SearchEntry[] = [], other: SearchEntry[] = [];
  for (const x of index) {
    if (x.lname === q) exact.push(x);
    else if (x.lname.includes(q) || x.lop.includes(q)) other.push(x);
  }
  const byRank = (a: SearchEntry, b: SearchEntry) => a.rank - b.rank;
  return [...exact.sort(byRank), ...other.sort(byRank)];
}
