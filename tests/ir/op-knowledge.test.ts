/**
 * One home for op knowledge: outside the op registry (src/ir/ops) and the backends' capability tables, no
 * source file holds a list of ONNX op type names. A "list" is what a pass would keep its own set of ops
 * in: an array or Set of two or more op names, an object keyed by two or more, a chain of `op === 'A' ||
 * op === 'B'` comparisons, or a switch over two or more. Read with the TypeScript parser, not a regular
 * expression, so code that builds one node of a given op (a rewrite emitting an Add) is not a list.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import '../../src/ir/ops/all.js';
import { registeredOps } from '../../src/ir/ops/registry.js';
import { opsWithTraits } from '../../src/ir/ops/traits.js';

const ROOT = join(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src');

/** Where op names may be listed: the op registry, and each backend's capability table (with the tfjs kernels it describes). */
const ALLOWED = [/^src\/ir\/ops\//, /^src\/backends\/[a-z-]*capabilities\.ts$/, /^src\/backends\/tfjs-kernels\.ts$/];

const OPS = new Set([...registeredOps().filter((o) => !o.includes('::')), ...opsWithTraits()]);

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

const opString = (n: ts.Node): string | undefined => (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) && OPS.has(n.text) ? n.text : undefined;
const keyName = (n: ts.PropertyName | undefined): string | undefined => (n && (ts.isIdentifier(n) || ts.isStringLiteral(n)) && OPS.has(n.text) ? n.text : undefined);

/** The op names a comparison chain (a === 'X' || b !== 'Y' …) compares against. */
function chainOps(n: ts.Expression, op: ts.SyntaxKind): string[] {
  if (ts.isParenthesizedExpression(n)) return chainOps(n.expression, op);
  if (ts.isBinaryExpression(n)) {
    if (n.operatorToken.kind === op) return [...chainOps(n.left, op), ...chainOps(n.right, op)];
    const k = n.operatorToken.kind;
    if (k === ts.SyntaxKind.EqualsEqualsEqualsToken || k === ts.SyntaxKind.ExclamationEqualsEqualsToken) {
      const s = opString(n.left) ?? opString(n.right);
      return s ? [s] : [];
    }
  }
  return [];
}

/** Every list of op names in a source text, as `line: names`. */
function opLists(text: string): string[] {
  const source = ts.createSourceFile('file.ts', text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const report = (node: ts.Node, names: string[]) => {
    if (new Set(names).size < 2) return;
    found.push(`${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}: ${[...new Set(names)].join(', ')}`);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isArrayLiteralExpression(node)) report(node, node.elements.map(opString).filter((x): x is string => !!x));
    else if (ts.isObjectLiteralExpression(node)) report(node, node.properties.map((p) => keyName(p.name)).filter((x): x is string => !!x));
    else if (ts.isSwitchStatement(node)) report(node, node.caseBlock.clauses.flatMap((c) => (ts.isCaseClause(c) && opString(c.expression) ? [opString(c.expression)!] : [])));
    else if (ts.isBinaryExpression(node) && (node.operatorToken.kind === ts.SyntaxKind.BarBarToken || node.operatorToken.kind === ts.SyntaxKind.AmpersandAmpersandToken)) {
      const parent = node.parent;
      // the whole chain once, at its top
      if (!(ts.isBinaryExpression(parent) && parent.operatorToken.kind === node.operatorToken.kind)) report(node, chainOps(node, node.operatorToken.kind));
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('op knowledge has one home', () => {
  it('finds lists in each form they were written in before the op registry had traits, and not single ops', () => {
    const old = [
      "const CONTROL_FLOW = new Set(['If', 'Loop', 'Scan']);",
      'const PARAM_INPUTS = { Reshape: [1], Expand: [1] };',
      "if (node.op === 'Conv' || node.op === 'MaxPool' || x) f();",
      "switch (op) { case 'Relu': case 'Tanh': break; }",
      "b.node('Add', [x, y], 'z'); if (node.op === 'Conv') g(); const names = ['x', 'Relu'];",
    ].join('\n');
    expect(opLists(old)).toEqual(['1: If, Loop, Scan', '2: Reshape, Expand', '3: Conv, MaxPool', '4: Relu, Tanh']);
  });

  it('no source file outside src/ir/ops and the backends\u2019 capability tables lists ONNX op types', () => {
    const offenders: string[] = [];
    for (const f of files(SRC)) {
      const rel = relative(ROOT, f).split('\\').join('/');
      if (ALLOWED.some((re) => re.test(rel))) continue;
      for (const hit of opLists(readFileSync(f, 'utf8'))) offenders.push(`${rel}:${hit}`);
    }
    expect(offenders).toEqual([]);
  });
});
