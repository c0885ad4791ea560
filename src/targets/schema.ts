/**
 * A target is data: its processors (with what each accepts and how fast it is), their memories and the
 * links between them. Every figure carries the public source it comes from.
 *
 * The schemas are built on first use, zod loaded then (src/zod.ts): a process that parses no target
 * file (a session on the host target, uncalibrated) loads none of it.
 */
import type { z as Z } from 'zod';
import { TesseraError } from '../errors.js';
import { zod } from '../zod.js';

function build(z: typeof Z) {
  const figureOf = (value: Z.ZodNumber) => z.object({
    value,
    /** Where the figure comes from: a public document, a measurement command, or "estimate: why". */
    source: z.string().min(1),
  }).strict();
  /** A size or a fixed cost: zero or more (zod numbers are finite: no NaN, no Infinity from 1e999). */
  const figure = figureOf(z.number().nonnegative());
  /** A rate (GFLOP/s, GB/s, a fraction of peak): above zero, since times divide by it. */
  const rate = figureOf(z.number().positive());

  /** A name that is not a path (no / or \\, not . or ..): target names, and the names a plan records. */
  const plainName = z.string().regex(/^(?!\.\.?$)[^/\\\0]+$/, 'a name, not a path (no / or \\)');

  const dtypeName = z.enum(['float32', 'float16', 'bfloat16', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool', 'string']);

  const rejectRule = z.object({
    op: z.string(),
    /** The attribute that makes the node unsupported. */
    attr: z.string(),
    /** Rejected values (any value when absent). For ints attributes, a node is rejected when any element matches. */
    values: z.array(z.union([z.string(), z.number()])).optional(),
    /** Rejected when the (int) attribute is greater than this. */
    above: z.number().optional(),
    reason: z.string(),
  }).strict();

  const supportSchema = z.object({
    /** Op types accepted ("*" for every op the backend has). */
    ops: z.union([z.literal('*'), z.array(z.string())]),
    /** Element types the processor computes in. */
    dtypes: z.array(dtypeName),
    /** float32 work is legalized to this type (an NPU that takes no fp32 runs it in fp16). */
    legalizeFloat32To: dtypeName.optional(),
    maxRank: z.number().int().positive().optional(),
    controlFlow: z.boolean(),
    /** Whether shapes may depend on data (NonZero, data-dependent Reshape…). */
    dynamicShapes: z.boolean(),
    rejectAttributes: z.array(rejectRule).default([]),
    /**
     * Quantized (QDQ) work the processor computes on integers, by its vendor's rules: the activation and
     * weight types it takes (int32 biases always), whether weights quantized in blocks are among them. A
     * quantized op runs here only in a full QDQ group (ir/qdq.ts), with its QuantizeLinear/DequantizeLinear
     * nodes. Absent: no rules (a table that takes those ops runs them as they are).
     */
    quantized: z.object({
      activations: z.array(z.enum(['uint8', 'int8', 'uint16', 'int16'])).min(1),
      weights: z.array(z.enum(['int8', 'uint8', 'int4', 'uint4', 'int16'])).min(1),
      blockedWeights: z.boolean(),
      source: z.string().min(1),
    }).strict().optional(),
  }).strict();

  /** How fast a processor is, through the backend that runs it: every figure the cost model reads. */
  const figureFields = {
    /** Peak throughput in GFLOP/s (or GOP/s for integer types), per element type. */
    peakGflops: z.record(z.string(), rate),
    /** Memory bandwidth in GB/s as the processor sees it. */
    bandwidthGBs: rate,
    /** A node whose bytes fit this cache moves them at `cacheBandwidthGBs` instead (absent: no cache level is modelled). */
    cacheBytes: figure.optional(),
    cacheBandwidthGBs: rate.optional(),
    /** Fixed cost per partition launch, in microseconds. */
    launchOverheadUs: figure,
    /** Fixed cost of each tensor a launch takes in or gives back beyond the one of each `launchOverheadUs` includes, in microseconds (0 when absent). */
    tensorIoUs: figure.optional(),
    /** Fixed cost per node inside a partition (kernel dispatch), in microseconds (0 when absent). */
    nodeOverheadUs: figure.optional(),
    /**
     * Fixed cost of each group of a convolution the backend computes one group at a time (onnxruntime's CPU
     * EP outside its blocked and 2-D depthwise kernels: a 1-D depthwise convolution is one small GEMM per
     * channel), in microseconds (0 when absent).
     */
    convGroupUs: figure.optional(),
    /** Set-up one node of an op type costs beyond its dispatch and its roofline (a recurrent kernel's scratch buffers), in microseconds, by op type. */
    kernelSetupUs: z.record(z.string(), figure).optional(),
    /** Fraction of the peak rate each class of op reaches (1 when absent): see targets/cost.ts opClass. */
    efficiency: z.record(z.enum(['conv', 'dwconv', 'matmul', 'elementwise', 'reduce', 'copy']), rate).optional(),
  };

  /** A processor's figures through one backend. */
  const figuresSchema = z.object(figureFields).strict();

  const processorSchema = z.object({
    id: z.string().regex(/^[a-z][a-z0-9_-]*$/, 'ids are lower-case words'),
    kind: z.enum(['cpu', 'gpu', 'npu']),
    name: z.string(),
    /** The backend this processor's partitions are lowered for (bound to what this host has at run time). */
    backend: z.string(),
    /** A CPU's instruction set: an engine that runs differently per architecture (onnxruntime's blocked x86-64 convolutions) reads it. */
    arch: z.enum(['x86-64', 'arm64']).optional(),
    /** Fast on-chip memory (TCM/VTCM/SLC share), in bytes, when the processor has one. */
    onChipBytes: figure.optional(),
    /**
     * Streaming read bandwidth in GB/s: a working set far beyond the last-level cache read once, as a
     * decode step reads its weights (runtime/stream-bandwidth.ts). Measured, not fitted: `bandwidthGBs` is
     * fitted through the cost model from mostly in-cache benchmarks and can be several times higher.
     */
    streamBandwidthGBs: rate.optional(),
    ...figureFields,
    /**
     * The same processor's figures through other backends it can be bound to (by backend id: 'ort-web:wasm',
     * 'tfjs'), as `tessera calibrate` measured them: a plan compiled for such a binding uses them.
     */
    backends: z.record(z.string(), figuresSchema).optional(),
    support: supportSchema,
  }).strict();

  const linkSchema = z.object({
    from: z.string(),
    to: z.string(),
    bandwidthGBs: rate,
    latencyUs: figure,
  }).strict();

  const targetSchema = z.object({
    format: z.literal('tessera.target'),
    version: z.literal(1),
    /** A name, not a path: plans record it, and find a built-in target by it. */
    name: plainName,
    description: z.string(),
    processors: z.array(processorSchema).min(1),
    /** Links between processors' memories; both directions unless listed separately. */
    links: z.array(linkSchema),
    /**
     * The runtime process's memory (passes/resident.ts): its floor (resident bytes with the engine loaded
     * and one trivial session run), each further engine session, the factor on weights the engine holds
     * (its prepacked copies), and the storage's read bandwidth (weights streamed from disk).
     */
    memory: z.object({ floorBytes: figure.optional(), nodeBytes: figure.optional(), sessionBytes: figure.optional(), weightFactor: figure.optional(), storageReadGBs: rate.optional() }).strict().optional(),
  }).strict();

  return { figure, plainName, supportSchema, figuresSchema, processorSchema, linkSchema, targetSchema };
}

type Schemas = ReturnType<typeof build>;
let built: Schemas | undefined;

/** The target schemas (zod), built on first use. */
export function targetSchemas(): Schemas {
  return (built ??= build(zod()));
}

/** The fields of a processor that are its figures through its backend (tests/targets check them against the schema's). */
export const FIGURE_FIELDS: readonly string[] = ['peakGflops', 'bandwidthGBs', 'cacheBytes', 'cacheBandwidthGBs', 'launchOverheadUs', 'tensorIoUs', 'nodeOverheadUs', 'convGroupUs', 'kernelSetupUs', 'efficiency'];

export type Figure = Z.infer<Schemas['figure']>;
export type Support = Z.infer<Schemas['supportSchema']>;
export type Processor = Z.infer<Schemas['processorSchema']>;
export type Figures = Z.infer<Schemas['figuresSchema']>;
export type Link = Z.infer<Schemas['linkSchema']>;
export type Target = Z.infer<Schemas['targetSchema']>;

/** Validates target JSON, with messages that name the field. */
export function parseTarget(json: unknown, where: string): Target {
  const r = targetSchemas().targetSchema.safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new TesseraError('BAD_TARGET', `${where} is not a valid Tessera target: ${issues.join('; ')}`);
  }
  const t = r.data;
  const ids = new Set<string>();
  for (const p of t.processors) {
    if (ids.has(p.id)) throw new TesseraError('BAD_TARGET', `${where}: processor id '${p.id}' appears twice`);
    ids.add(p.id);
    if (Object.keys(p.peakGflops).length === 0) throw new TesseraError('BAD_TARGET', `${where}: processor '${p.id}' gives no peakGflops`);
  }
  if (!t.processors.some((p) => p.kind === 'cpu' && p.support.ops === '*')) {
    throw new TesseraError('BAD_TARGET', `${where}: a target needs a cpu processor that takes every op ("ops": "*"), for what nothing else runs`);
  }
  for (const l of t.links) {
    for (const end of [l.from, l.to]) {
      if (!ids.has(end)) throw new TesseraError('BAD_TARGET', `${where}: link ${l.from} -> ${l.to} names unknown processor '${end}'`);
    }
  }
  return t;
}
