/**
 * Builds the viewer: one self-contained HTML file. The page script (src/viz/page.ts) and its layout
 * worker (src/viz/layout-worker.ts, with dagre) are bundled with esbuild (scripts.ts) and inlined with
 * the data; the page loads nothing from anywhere.
 */
import { createHash } from 'node:crypto';
import type { VizData } from './model.js';
import { viewerScripts } from './scripts.js';

/** Text safe inside a <script> element: no "</script" and no "<!--" can end or confuse it. */
const scriptSafe = (s: string) => s.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');

export async function buildHtml(data: VizData): Promise<string> {
  const { page, worker } = await viewerScripts();
  const json = JSON.stringify(data).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  const title = `${data.plan.model.file} on ${data.plan.target.name} — Tessera plan`.replace(/[<&>]/g, (c) => `&#${c.charCodeAt(0)};`);
  const script = scriptSafe(page);
  // the page's one script is allowed by its hash, so nothing else inline runs: no injected <script>, no on* attribute
  const scriptHash = createHash('sha256').update(script).digest('base64');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-${scriptHash}' blob:; worker-src blob:; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${STYLE}</style></head>
<body>
<div id="app"></div>
<script id="tessera-data" type="application/json">${json}</script>
<script id="tessera-layout-worker" type="text/plain">${scriptSafe(worker)}</script>
<script>${script}</script>
</body></html>
`;
}

const STYLE = `
*{box-sizing:border-box}
html,body{margin:0;height:100%;font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;background:#f6f7f9}
#app{display:flex;flex-direction:column;height:100%}
header{display:flex;align-items:center;gap:16px;padding:8px 14px;background:#1d2430;color:#fff;flex:none}
header h1{font-size:15px;margin:0;font-weight:600;white-space:nowrap}
header .meta{color:#b8c0cc;font-size:12px;min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
nav{display:flex;gap:4px;margin-left:auto}
nav button{background:transparent;color:#dfe4ea;border:1px solid #4a5566;border-radius:4px;padding:4px 12px;cursor:pointer;font:inherit}
nav button.active{background:#fff;color:#1d2430}
main{flex:1;min-height:0;position:relative}
section.view{position:absolute;inset:0;display:none;overflow:auto}
section.view.active{display:flex}
#graph-view{flex-direction:row}
#graph-pane{flex:1;display:flex;flex-direction:column;min-width:0}
.toolbar{display:flex;gap:8px;align-items:center;padding:6px 10px;background:#fff;border-bottom:1px solid #dde1e7;flex-wrap:wrap}
.toolbar input[type=search]{width:220px;padding:4px 6px;border:1px solid #c4cad3;border-radius:4px;font:inherit}
.toolbar button{padding:3px 9px;border:1px solid #c4cad3;background:#fff;border-radius:4px;cursor:pointer;font:inherit}
.legend{display:flex;gap:10px;margin-left:auto;font-size:12px}
.swatch{display:inline-block;width:11px;height:11px;border-radius:2px;vertical-align:-1px;margin-right:3px}
#graph-box{flex:1;position:relative;min-height:0;overflow:hidden;background:#fbfbfc;cursor:grab}
#graph-box.dragging{cursor:grabbing}
#graph-svg{width:100%;height:100%;display:block;user-select:none}
#graph-status{position:absolute;left:12px;top:10px;color:#5b6472;background:#ffffffd0;padding:2px 6px;border-radius:3px;pointer-events:none}
#search-results{position:absolute;left:10px;top:4px;max-height:50%;overflow:auto;background:#fff;border:1px solid #c4cad3;border-radius:4px;z-index:3;display:none;min-width:260px}
#search-results div{padding:3px 8px;cursor:pointer;white-space:nowrap}
#search-results div:hover{background:#eef2f7}
.node>rect{stroke:#0003;stroke-width:1;rx:4}
.node text{fill:#fff;font-size:11px;pointer-events:none;font-weight:600}
.node.folded>rect{fill:#fff;stroke:#9aa3af;stroke-dasharray:3 2}
.node.folded text{fill:#6b7380;font-weight:400}
.node{cursor:pointer}
.searching .node{opacity:.18}
.searching .node.match{opacity:1}
.partition>rect{fill:#0000000a;stroke-width:1.5;stroke-dasharray:6 3}
.partition text{font-size:11px;font-weight:600;cursor:pointer}
.node.collapsed-partition>rect{stroke-width:2;stroke:#0006}
.edge{fill:none;stroke:#8a93a0;stroke-width:1}
.edge.transfer{stroke:#f28e2b;stroke-width:2.5;stroke-dasharray:5 3}
.transfer-mark text{font-size:10px;fill:#a35400;font-weight:600}
.transfer-mark circle{fill:#f28e2b}
#details{width:360px;flex:none;border-left:1px solid #dde1e7;background:#fff;overflow:auto;padding:10px 14px;display:none}
#details.open{display:block}
#details h2{font-size:14px;margin:4px 0 8px;word-break:break-all}
#details table{border-collapse:collapse;width:100%;font-size:12px}
#details td{padding:2px 4px;vertical-align:top;border-bottom:1px solid #eef0f3;word-break:break-word}
#details td:first-child{color:#5b6472;white-space:nowrap;width:1%}
#details .close{float:right;cursor:pointer;border:none;background:none;font-size:16px}
#layout-note{font-size:12px;color:#5b6472;padding:2px 10px;background:#fff;border-bottom:1px solid #dde1e7}
#layout-note:empty{display:none}
#layout-note .warn{color:#a35400;font-weight:600}
.toolbar select{padding:3px 4px;border:1px solid #c4cad3;border-radius:4px;font:inherit;background:#fff}
.check{padding:5px 14px;font-size:12px;border-bottom:1px solid #dde1e7;flex:none;word-break:break-word}
.check.valid{background:#eef7ee;color:#2d5a2d}
.check.unchecked{background:#f3f5f8;color:#5b6472}
.check.invalid{background:#fdecea;color:#8a1f11;border-bottom:2px solid #c0392b}
.badge.invalid{background:#c0392b;color:#fff;font-weight:700;font-size:11px;padding:2px 8px;border-radius:3px;white-space:nowrap}
.buffer.offending{stroke:#c0392b;stroke-width:2.5}
.node.control text{font-weight:700}
.toggle{cursor:pointer}
.toggle text{fill:#fff;font-size:12px;font-weight:700;pointer-events:auto}
.node.sub>rect{stroke:#0004}
.node.pruned>rect{stroke:#9aa3af;stroke-dasharray:3 2}
.node.pruned text,.node.pruned .toggle text{fill:#6b7380;font-weight:400}
.branch>rect{fill:#8e44ad08;stroke:#8e44ad;stroke-width:1.2}
.branch.pruned>rect{fill:#00000008;stroke:#9aa3af;stroke-dasharray:4 3}
.branch.not-inferred>rect{stroke-dasharray:2 2}
.huge>rect{stroke-dasharray:none!important}
.branch text{font-size:11px;font-weight:600;fill:#5b2c6f}
.branch.pruned text{fill:#6b7380}
.edge.outer{stroke:#8e44ad;stroke-width:1.3;stroke-dasharray:4 2}
.edge.out{stroke:#8e44ad;stroke-width:1.3}
.why{background:#fff6e5;border:1px solid #f3d9a4;border-radius:4px;padding:4px 6px;margin:6px 0;font-size:12px}
.pad{padding:14px 18px;flex-direction:column;gap:14px}
.card{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px 14px}
.card h3{margin:0 0 6px;font-size:13px}
.note{color:#5b6472;font-size:12px}
table.grid{border-collapse:collapse;font-size:12px}
table.grid th,table.grid td{padding:4px 10px;border-bottom:1px solid #eef0f3;text-align:left}
table.grid td.num,table.grid th.num{text-align:right;font-variant-numeric:tabular-nums}
svg text{font-family:inherit}
.bar{cursor:default}
.bar.measured{opacity:.85}
.axis text{font-size:10px;fill:#5b6472}
.axis line{stroke:#e3e6ea}
.lane-label{font-size:12px;font-weight:600;fill:#1d2430}
.mark-label{font-size:11px;font-weight:600}
.emulated{color:#a35400;font-weight:600}
.node.match>rect{stroke:#f5b700;stroke-width:3;stroke-dasharray:none}
.node.offending>rect{stroke:#c0392b;stroke-width:3;stroke-dasharray:none}
.node.selected>rect{stroke:#111;stroke-width:3;stroke-dasharray:none}
.real{color:#2d7a2d;font-weight:600}
`;
