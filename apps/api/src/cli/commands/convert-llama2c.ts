// `quiver convert llama2c --checkpoint FILE --tokenizer FILE --out DIR`: a llama2.c
// checkpoint and tokenizer become a Hugging Face folder the engine (and other tools) read.
import { parseArgs } from "node:util";

import { convertLlama2c } from "@quiver/engine";

const HELP = "Usage: quiver convert llama2c --checkpoint FILE.bin --tokenizer TOKENIZER.bin --out DIR";

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      checkpoint: { type: "string" },
      tokenizer: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.checkpoint || !values.tokenizer || !values.out) {
    console.error(HELP);
    return 2;
  }
  const { config, files } = convertLlama2c(values.checkpoint, values.tokenizer, values.out);
  console.log(
    `wrote ${values.out}: ${files.join(", ")} (dim ${config.dim}, ${config.nLayers} layers, ${config.nHeads} heads, ` +
      `${config.nKvHeads} kv heads, vocab ${config.vocabSize}, context ${config.seqLen})`,
  );
  return 0;
}
