/** Messages between the viewer page and its layout worker: boxes and clusters by index, in typed arrays. */
export interface LayoutRequest {
  seq: number;
  /** Per box: width, height, and the cluster it sits in (-1: none). */
  w: Float32Array;
  h: Float32Array;
  parent: Int32Array;
  /** Clusters (groups drawn around their boxes and clusters): the cluster each sits in (-1: none). */
  clusters: { parent: number }[];
  /** Edges as pairs of box indices [a0, b0, a1, b1, …]. */
  edges: Int32Array;
  /** 'auto': dagre for small shallow scenes, the layered layout otherwise; or one of them. A layout that fails falls back to the next simpler one. */
  engine: 'auto' | 'dagre' | 'layered' | 'grid';
}

export interface LayoutReply {
  seq: number;
  /** The layout that drew it, and what failed on the way there. */
  engine: 'dagre' | 'layered' | 'grid';
  notes: string[];
  /** Per box: centre x, centre y, width, height. */
  box: Float32Array;
  /** Per cluster: centre x, centre y, width, height (width 0: empty, not drawn). */
  cluster: Float32Array;
  /** Edge routes from dagre (x0, y0, x1, y1, …) in request order; absent: drawn from the box positions. */
  routes?: Float32Array[];
  width: number;
  height: number;
  ms: number;
}
