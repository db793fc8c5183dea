// Chat templates (Jinja, as tokenizer_config.json / chat_template.jinja carry them), rendered
// with @huggingface/jinja. The template is parsed once when the tokenizer loads, so a broken
// template is refused with its file's name before any generation starts.
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { ntError } from '../errors';

export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatTemplateOptions {
  /** Append the header that opens the assistant's turn (default true: the next tokens are the reply). */
  addGenerationPrompt?: boolean;
}

/**
 * The elements all range() calls of one rendering may produce. The interpreter has no step or
 * time limit; a template's only unbounded loops are over range(), so this bounds a hostile
 * template's work (nested ranges count their product). Real templates use a handful.
 */
export const RANGE_BUDGET = 1_000_000;

/** A parsed chat template; `source` names where it came from (file name) for error messages. */
export class ChatTemplate {
  private readonly template: Template;

  constructor(
    readonly text: string,
    readonly source: string,
  ) {
    if (typeof text !== 'string' || text === '') throw ntError('NT_IO', `[tokenizer] ${source}: the chat template must be a non-empty string`);
    try {
      this.template = new Template(text);
    } catch (e) {
      throw ntError('NT_IO', `[tokenizer] ${source}: the chat template does not parse: ${(e as Error).message}`);
    }
  }

  /** Renders messages; special-token strings (bos_token, eos_token, ...) are template variables. */
  render(messages: ChatMessage[], specials: Record<string, string | undefined>, opts: ChatTemplateOptions = {}): string {
    checkMessages(messages);
    const addGenerationPrompt = opts.addGenerationPrompt ?? true;
    if (typeof addGenerationPrompt !== 'boolean') throw ntError('NT_VALUE', '[applyChatTemplate] addGenerationPrompt must be a boolean');
    const env = new Environment();
    let produced = 0;
    const globals: Record<string, unknown> = {
      false: false,
      true: true,
      none: null,
      False: false,
      True: true,
      None: null,
      raise_exception: (message: unknown) => {
        throw new TemplateRaised(String(message));
      },
      range: (start: number, stop?: number, step = 1) => {
        if (stop === undefined) [start, stop] = [0, start];
        if (![start, stop, step].every(Number.isInteger) || step === 0) throw new Error('range() takes integers and a non-zero step');
        const n = Math.max(0, Math.ceil((stop - start) / step));
        produced += n;
        if (produced > RANGE_BUDGET) throw new Error(`range() calls produced more than ${RANGE_BUDGET} elements`);
        return Array.from({ length: n }, (_, i) => start + i * step);
      },
      strftime_now: (format: string) => strftime(new Date(), String(format)),
      messages: messages.map((m) => ({ ...m })),
      add_generation_prompt: addGenerationPrompt,
    };
    for (const [k, v] of Object.entries(specials)) if (v !== undefined) globals[k] = v;
    for (const [k, v] of Object.entries(globals)) env.set(k, v);
    try {
      const out = new Interpreter(env).run(this.template.parsed).value;
      if (typeof out !== 'string') throw new Error(`rendered a ${typeof out}, not text`);
      return out;
    } catch (e) {
      // raise_exception is the template refusing the conversation; anything else is the template failing on it
      // (a type error, a recursion that overflowed the stack, the range budget)
      const why = e instanceof TemplateRaised ? `refused the conversation: ${e.message}` : `failed: ${(e as Error).message}`;
      throw ntError('NT_VALUE', `[applyChatTemplate] the chat template of ${this.source} ${why}`);
    }
  }
}

class TemplateRaised extends Error {}

function checkMessages(messages: unknown): asserts messages is ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) throw ntError('NT_VALUE', '[applyChatTemplate] messages must be a non-empty array of {role, content}');
  messages.forEach((m, i) => {
    if (typeof m !== 'object' || m === null || typeof (m as ChatMessage).role !== 'string' || typeof (m as ChatMessage).content !== 'string')
      throw ntError('NT_VALUE', `[applyChatTemplate] messages[${i}] must be {role: string, content: string}`);
  });
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** The strftime subset chat templates use (Llama 3.1's "%d %b %Y"); other directives stay as written. */
function strftime(d: Date, format: string): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return format.replace(/%[YmdbBHM%]/g, (t) => {
    switch (t) {
      case '%Y':
        return String(d.getFullYear());
      case '%m':
        return pad(d.getMonth() + 1);
      case '%d':
        return pad(d.getDate());
      case '%b':
        return MONTHS[d.getMonth()].slice(0, 3);
      case '%B':
        return MONTHS[d.getMonth()];
      case '%H':
        return pad(d.getHours());
      case '%M':
        return pad(d.getMinutes());
      default:
        return '%';
    }
  });
}
