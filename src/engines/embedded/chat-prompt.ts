import { Template } from '@huggingface/jinja';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { messageText, type ChatMessage } from '../../spec/openai-requests.js';

/** Used when a GGUF carries no chat template: ChatML, which most instruction-tuned open models accept. */
const FALLBACK_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Renders chat messages with the model's own Jinja chat template (`tokenizer.chat_template`). */
export class ChatPrompt {
  private readonly template: Template;
  readonly usesFallback: boolean;

  constructor(
    source: string | undefined,
    private readonly specialTokens: { bos: string; eos: string },
  ) {
    this.usesFallback = source === undefined || source.trim() === '';
    this.template = new Template(this.usesFallback ? FALLBACK_TEMPLATE : (source as string));
  }

  render(messages: readonly ChatMessage[]): string {
    try {
      return this.template.render({
        messages: messages.map((message) => ({
          role: message.role === 'developer' ? 'system' : message.role,
          content: messageText(message),
        })),
        add_generation_prompt: true,
        bos_token: this.specialTokens.bos,
        eos_token: this.specialTokens.eos,
      });
    } catch (error) {
      // Templates raise on message orders they do not accept (e.g. two user turns in a row).
      throw new EdgeFleetError(
        'invalid_request',
        `the model's chat template refused these messages: ${error instanceof Error ? error.message : error}`,
        { param: 'messages' },
      );
    }
  }
}
