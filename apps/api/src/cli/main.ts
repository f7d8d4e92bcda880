import { commands } from "./commands.js";

function usage(): string {
  const names = Object.keys(commands).sort();
  const width = Math.max(...names.map((n) => n.length));
  const lines = names.map((n) => `  quiver ${n.padEnd(width)}  ${commands[n]!.summary}`);
  return ["Usage:", ...lines, "", "Run `quiver <command> --help` for a command's options."].join("\n");
}

/** Finds the longest registered command name that prefixes argv ("bench engine" before "bench"). */
export function resolveCommand(argv: string[]): { name: string; rest: string[] } | undefined {
  for (let words = Math.min(argv.length, 3); words >= 1; words--) {
    const name = argv.slice(0, words).join(" ");
    if (commands[name]) return { name, rest: argv.slice(words) };
  }
  return undefined;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === "help" || argv[0] === "--help" || argv[0] === "-h") {
    console.log(usage());
    return 0;
  }
  const found = resolveCommand(argv);
  if (!found) {
    console.error(`quiver: unknown command "${argv.join(" ")}"\n\n${usage()}`);
    return 2;
  }
  const mod = await commands[found.name]!.load();
  try {
    return await mod.run(found.rest);
  } catch (err) {
    const code = (err as { code?: string }).code;
    console.error(`quiver ${found.name}: ${code ? `[${code}] ` : ""}${(err as Error).message}`);
    const hint = (err as { hint?: unknown }).hint;
    if (typeof hint === "string") console.error(`  hint: ${hint}`);
    return 1;
  }
}
