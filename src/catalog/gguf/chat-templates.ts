/**
 * Chat templates embedded in generated models (tokenizer.chat_template) and the special tokens they use.
 *
 * The think template is DeepSeek-R1-Distill-Llama-8B's own template, verbatim from llama.cpp's
 * models/templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja: its generation prompt ends with
 * "<｜Assistant｜><think>\n", so the model starts inside its reasoning. The plain template is the same with
 * the generation prompt cut to "<｜Assistant｜>" (DeepSeek-V3 style), for models that do not think.
 */

/** The DeepSeek-R1 special tokens: template tags are control tokens, the think tags are plain text tokens. */
export const r1Tokens = {
  bos: '<｜begin▁of▁sentence｜>',
  eos: '<｜end▁of▁sentence｜>',
  user: '<｜User｜>',
  assistant: '<｜Assistant｜>',
  thinkOpen: '<think>',
  thinkClose: '</think>',
} as const;

/** Control tokens in the order they are added to a vocabulary that lacks them. */
export const r1ControlTokens: readonly string[] = [
  r1Tokens.bos,
  r1Tokens.eos,
  r1Tokens.user,
  r1Tokens.assistant,
  '<｜tool▁calls▁begin｜>',
  '<｜tool▁calls▁end｜>',
  '<｜tool▁call▁begin｜>',
  '<｜tool▁call▁end｜>',
  '<｜tool▁sep｜>',
  '<｜tool▁outputs▁begin｜>',
  '<｜tool▁outputs▁end｜>',
  '<｜tool▁output▁begin｜>',
  '<｜tool▁output▁end｜>',
];

/** Text tokens that must be single (user-defined) tokens so that output contains them literally. */
export const r1TextTokens: readonly string[] = [r1Tokens.thinkOpen, r1Tokens.thinkClose];

/** DeepSeek-R1-Distill-Llama-8B's chat template, verbatim. */
export const deepSeekR1Template =
  "{% if not add_generation_prompt is defined -%}\n  {%- set add_generation_prompt = false -%}\n{%- endif -%}\n{%- set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') -%}\n{%- for message in messages -%}\n  {%- if message['role'] == 'system' -%}\n    {%- set ns.system_prompt = message['content'] -%}\n  {%- endif -%}\n{%- endfor -%}{{bos_token}}{{ns.system_prompt}}\n{%- for message in messages -%}\n  {%- if message['role'] == 'user' -%}\n    {%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}\n  {%- endif -%}\n  {%- if message['role'] == 'assistant' and message['content'] is none -%}\n    {%- set ns.is_tool = false -%}\n    {%- for tool in message['tool_calls']-%}\n      {%- if not ns.is_first -%}{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}\n        {%- set ns.is_first = true -%}\n        {%- else -%}{{'\\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}\n      {%- endif -%}\n    {%- endfor -%}\n  {%- endif -%}\n  {%- if message['role'] == 'assistant' and message['content'] is not none -%}\n    {%- if ns.is_tool -%}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}\n      {%- set ns.is_tool = false -%}\n      {%- else -%}\n      {%- set content = message['content'] -%}\n      {%- if '</think>' in content -%}\n        {%- set content = content.split('</think>')[-1] -%}\n      {%- endif -%}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}\n    {%- endif -%}\n  {%- endif -%}\n  {%- if message['role'] == 'tool' -%}\n    {%- set ns.is_tool = true -%}\n    {%- if ns.is_output_first -%}{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}\n      {%- set ns.is_output_first = false -%}\n      {%- else -%}{{'\\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}\n    {%- endif -%}\n  {%- endif -%}\n{%- endfor -%}\n{%- if ns.is_tool -%}{{'<｜tool▁outputs▁end｜>'}}\n{%- endif -%}\n{%- if add_generation_prompt and not ns.is_tool -%}{{'<｜Assistant｜><think>\\n'}}\n{%- endif %}";

const r1GenerationPrompt = "{{'<｜Assistant｜><think>\\n'}}";

/** The same template whose generation prompt is only "<｜Assistant｜>": for models that do not think. */
export const deepSeekPlainTemplate = deepSeekR1Template.replace(r1GenerationPrompt, "{{'<｜Assistant｜>'}}");

/** What the generation prompt of each template ends with; the model continues after it. */
export const generationPromptSuffix = {
  think: '<｜Assistant｜><think>\n',
  plain: '<｜Assistant｜>',
} as const;
