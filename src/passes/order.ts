/**
 * Order: a deterministic topological order of all top-level nodes. This first version takes the walk
 * the partitioner made (each partition's nodes contiguous, partitions in sequence), so the runtime,
 * which runs one partition as one backend call, executes exactly in this order. A memory-aware order
 * replaces it in a later pass.
 */
import { TesseraError } from '../errors.js';
import { predecessors, type Graph } from '../ir/graph.js';
import type { Partitioning } from './partition.js';

export function order(graph: Graph, parts: Partitioning): number[] {
  const pos = new Array<number>(graph.nodes.length).fill(-1);
  parts.walk.forEach((n, i) => (pos[n] = i));
  for (const node of graph.nodes) {
    if (pos[node.index] < 0) throw new TesseraError('INTERNAL', `order: node '${node.name}' missing from the partition walk`);
    for (const p of predecessors(graph, node)) {
      if (pos[p] > pos[node.index]) throw new TesseraError('INTERNAL', `order: walk puts '${node.name}' before its producer`);
    }
  }
  return [...parts.walk];
}
