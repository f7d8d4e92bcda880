// A jest test environment for suites that run onnxruntime-node or TF.js. Jest runs each
// test file in its own V8 context with its own Float32Array etc., but native addons build
// their outputs with the main context's typed arrays, and onnxruntime's JS checks
// `data instanceof Float32Array`: it then rejects its own outputs. Sharing the main
// context's typed-array constructors (and ArrayBuffer) with the test context fixes that.
// Use with: /** @jest-environment ./test/retriever/ort-environment.mjs */
import { TestEnvironment } from "jest-environment-node";

const shared = [
  "ArrayBuffer",
  "SharedArrayBuffer",
  "Int8Array",
  "Uint8Array",
  "Uint8ClampedArray",
  "Int16Array",
  "Uint16Array",
  "Int32Array",
  "Uint32Array",
  "Float32Array",
  "Float64Array",
  "BigInt64Array",
  "BigUint64Array",
];

export default class OrtEnvironment extends TestEnvironment {
  constructor(config, context) {
    // Globals cleanup is off for every suite (jest.config.js): TF.js sets engine state on
    // globals from async work, which the "soft" mode's wrapped setters turn into a recursion.
    super(config, context);
    for (const name of shared) this.global[name] = globalThis[name];
  }
}
