/** Messages between the viewer page and its layout worker. */
export interface LayoutRequest {
  seq: number;
  nodes: { id: string; w: number; h: number; parent?: string }[];
  clusters: { id: string; label: string }[];
  edges: [string, string][];
}

export interface LayoutReply {
  seq: number;
  nodes: Record<string, { x: number; y: number; w: number; h: number }>;
  clusters: Record<string, { x: number; y: number; w: number; h: number }>;
  /** Edge routes, in the request's edge order. */
  edges: [number, number][][];
  width: number;
  height: number;
  ms: number;
}
