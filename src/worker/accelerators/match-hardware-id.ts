/**
 * Maps the device name a vendor tool prints to the planner's hardware catalog id. Pure; table-tested.
 * Each rule is checked in order, so more specific names (H100 PCIe, H100 NVL) come before general ones.
 */

interface Rule {
  id: string;
  test: RegExp;
}

const rules: readonly Rule[] = [
  // NVIDIA datacenter. nvidia-smi prints e.g. "NVIDIA H100 80GB HBM3" (SXM), "NVIDIA H100 PCIe", "NVIDIA H20".
  { id: 'h100-pcie', test: /\bH100\b.*\bPCIe\b/i },
  { id: 'h200', test: /\bH200\b/i },
  { id: 'h800', test: /\bH800\b/i },
  { id: 'h20', test: /\bH20\b/i },
  { id: 'h100-sxm', test: /\bH100\b(?!.*\bNVL\b)/i },
  { id: 'a800-80gb', test: /\bA800\b/i },
  { id: 'a100-40gb', test: /\bA100\b.*\b40\s?GB\b/i },
  { id: 'a100-80gb', test: /\bA100\b/i },
  { id: 'l40s', test: /\bL40S\b/i },
  { id: 'l20', test: /\bL20\b/i },
  // NVIDIA GeForce.
  { id: 'rtx-5090', test: /\bRTX\s?5090\b/i },
  { id: 'rtx-4090', test: /\bRTX\s?4090\b(?!\s*D\b)/i },
  { id: 'rtx-3090', test: /\bRTX\s?3090\b(?!\s*Ti\b)/i },
  // AMD Instinct.
  { id: 'mi300x', test: /\bMI300X\b/i },
  // Huawei Ascend: npu-smi prints "910B3", "910B4", torch_npu "Ascend910B3". The 310P is a separate card.
  { id: 'ascend-910b', test: /(?:^|Ascend\s?)910B\d?\b/i },
  { id: 'ascend-310p', test: /(?:^|Ascend\s?)310P\d?\b/i },
  // Hygon DCU: hy-smi prints "K100_AI" (and the catalog entry is the K100 AI).
  { id: 'hygon-k100', test: /\bK100[_\s-]?AI\b/i },
  // Apple silicon: the brand string is "Apple M3 Max", "Apple M2 Ultra", ...
  { id: 'apple-m2-ultra', test: /^Apple M2 Ultra\b/i },
  { id: 'apple-m3-max', test: /^Apple M3 Max\b/i },
  { id: 'apple-m3-ultra', test: /^Apple M3 Ultra\b/i },
];

/**
 * The catalog id for a device name, or undefined when no catalog entry matches (an unknown name is
 * reported without an id rather than guessed). Memory size is not used: the catalog has one entry per
 * SKU and the name already carries the variant where it matters (A100 40GB vs 80GB).
 */
export function matchHardwareId(name: string): string | undefined {
  const trimmed = name.trim();
  if (trimmed === '') return undefined;
  for (const rule of rules) {
    if (rule.test.test(trimmed)) return rule.id;
  }
  return undefined;
}

/** Every id this matcher can return; the test checks each one exists in the hardware catalog. */
export const matchableHardwareIds: readonly string[] = rules.map((rule) => rule.id);
