/**
 * Where to download a GGUF build of a catalog model, so `edgefleet up --model <id>` and
 * `edgefleet pull <id>` work without a Hugging Face path. Q4_K_M is llama.cpp's usual default quality/size
 * trade-off. Source: the bartowski GGUF conversions on Hugging Face (one repo per model, file names
 * `<Model>-<QUANT>.gguf`).
 */
const repos: Record<string, { repo: string; file: string }> = {
  'deepseek-r1-distill-qwen-1.5b': {
    repo: 'bartowski/DeepSeek-R1-Distill-Qwen-1.5B-GGUF',
    file: 'DeepSeek-R1-Distill-Qwen-1.5B',
  },
  'deepseek-r1-distill-qwen-7b': {
    repo: 'bartowski/DeepSeek-R1-Distill-Qwen-7B-GGUF',
    file: 'DeepSeek-R1-Distill-Qwen-7B',
  },
  'deepseek-r1-distill-qwen-14b': {
    repo: 'bartowski/DeepSeek-R1-Distill-Qwen-14B-GGUF',
    file: 'DeepSeek-R1-Distill-Qwen-14B',
  },
  'deepseek-r1-distill-qwen-32b': {
    repo: 'bartowski/DeepSeek-R1-Distill-Qwen-32B-GGUF',
    file: 'DeepSeek-R1-Distill-Qwen-32B',
  },
  'deepseek-r1-distill-llama-8b': {
    repo: 'bartowski/DeepSeek-R1-Distill-Llama-8B-GGUF',
    file: 'DeepSeek-R1-Distill-Llama-8B',
  },
  'deepseek-r1-distill-llama-70b': {
    repo: 'bartowski/DeepSeek-R1-Distill-Llama-70B-GGUF',
    file: 'DeepSeek-R1-Distill-Llama-70B',
  },
};

export const ggufQuants = ['Q4_K_M', 'Q5_K_M', 'Q6_K', 'Q8_0', 'Q4_0', 'IQ4_XS', 'Q3_K_M', 'Q2_K'] as const;

/** The `hf:` reference of a catalog model's GGUF file, or undefined for an id without a known GGUF source. */
export function ggufRefFor(modelId: string, quant = 'Q4_K_M'): string | undefined {
  const source = repos[modelId.toLowerCase()];
  if (!source) return undefined;
  return `hf:${source.repo}/${source.file}-${quant.toUpperCase()}.gguf`;
}

export function modelIdsWithGguf(): string[] {
  return Object.keys(repos);
}
