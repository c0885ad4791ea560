/**
 * A placement and its partitions, as the passes build them and the plan records them: every node on a
 * processor (folded ones too, with the partition of their first run-time consumer), partitions that are
 * intervals of one topological walk, and each partition's boundary values.
 */

export interface PlacedNode {
  processor: string;
  /** For runtime nodes: why faster processors were not used (empty when the first choice was taken). */
  rejected: { processor: string; reason: string }[];
  folded: boolean;
}

export interface PartitionSpec {
  id: number;
  processor: string;
  /** Every node of the partition (folded ones too), ascending. */
  nodes: number[];
  inputs: string[];
  outputs: string[];
}

export interface Partitioning {
  placement: PlacedNode[];
  partitions: PartitionSpec[];
  /** Partition id of each node. */
  partitionOf: number[];
  /** The topological walk that formed the partitions (every node once). */
  walk: number[];
  source: string;
}
