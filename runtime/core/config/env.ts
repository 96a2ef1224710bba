import type { z } from 'zod';

// The one config loader of every entry point (api, producer, consumer and its tools, operator):
// an env schema keyed by the variables' names validates the environment, its output is camelCase
// (`camelConfig`), and bad config is reported the same way everywhere (`loadConfig`).

export type Env = Record<string, string | undefined>;

/** Exit code of every entry point that refuses to start on bad configuration. */
export const CONFIG_EXIT_CODE = 2;

/** Raised when configuration is invalid; lists every problem at once so operators fix them in one go. */
export class ConfigError extends Error {
  /** One line each: `NAME: what it wants (got <value>)`. */
  readonly issues: string[];
  constructor(issues: string[]) {
    super(`invalid configuration:\n  - ${issues.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** Values never echoed back: the variable's name says it is a credential. */
const SECRET_NAME = /SECRET|PASSWORD|TOKEN|_KEY$|_PEM$/;

/** What a variable held, for an error: `unset`, or `got "…"` with credentials in URLs and secrets hidden. */
export function shownValue(name: string, value: string | undefined): string {
  if (value === undefined || value === '') return 'unset';
  if (SECRET_NAME.test(name)) return `got a hidden value of ${value.length} characters`;
  // userinfo of any URL-like value (mysql://user:pass@…, redis://:pass@…): keep the user, hide the password.
  const redacted = value.replace(/(\/\/[^/@:]*):[^/@]*@/g, '$1:***@');
  const short = redacted.length > 200 ? `${redacted.slice(0, 200)}…` : redacted;
  return `got ${JSON.stringify(short)}`;
}

/** Parses an environment (or any string map) with a zod object schema; empty strings count as unset. */
export function parseEnv<S extends z.ZodType>(schema: S, env: Env): z.output<S> {
  const cleaned: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && v !== '') cleaned[k] = v;
  }
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    const seen = new Set<string>();
    const issues: string[] = [];
    for (const i of result.error.issues) {
      // The variable, not the element of a list it holds: what it got shows the whole value.
      const top = typeof i.path[0] === 'string' ? i.path[0] : undefined;
      const line =
        top === undefined
          ? `(root): ${i.message}`
          : `${top}: ${i.message} (${shownValue(top, cleaned[top])})`;
      if (!seen.has(line)) issues.push(line);
      seen.add(line);
    }
    throw new ConfigError(issues);
  }
  return result.data;
}

/**
 * An entry point's configuration, or the process ends: every problem on stderr, one line each
 * (`<component>: invalid configuration: NAME: ... (got ...)`), exit code CONFIG_EXIT_CODE. Plain
 * lines, not JSON logs: no logger exists yet, and this is what a person reads in a failed pod.
 */
export function loadConfig<T>(component: string, load: (env: Env) => T, env: Env = process.env): T {
  try {
    return load(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(err.issues.map((i) => `${component}: invalid configuration: ${i}\n`).join(''));
    process.exit(CONFIG_EXIT_CODE);
  }
}

type Camel<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Lowercase<Head>}${Capitalize<Camel<Tail>>}`
  : Lowercase<S>;
type Unprefixed<K extends string, P extends string> = [P] extends [never]
  ? K
  : K extends `${P}${infer Rest}`
    ? Rest
    : K;

/** The config object of an env map: `PREFIX_SOME_NAME_MS` → `someNameMs` (the prefix is the component's). */
export type CamelConfig<T, P extends string = never> = {
  [K in keyof T & string as Camel<Unprefixed<K, P>>]: T[K];
};

const camel = (name: string) => name.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * An env schema's output as the code reads it: each variable's name in camelCase, without the
 * component's own prefix (API_OPS_PORT → opsPort for the api, LOG_LEVEL → logLevel). A new variable
 * in the schema is a new field here, with nothing else to write.
 */
export function camelConfig<T extends Record<string, unknown>, P extends string = never>(
  env: T,
  prefix?: P,
): CamelConfig<T, P> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(env)) {
    const key = camel(prefix !== undefined && name.startsWith(prefix) ? name.slice(prefix.length) : name);
    if (key in out) throw new Error(`config: ${name} and another variable both become ${key}`);
    out[key] = value;
  }
  return out as CamelConfig<T, P>;
}
