import { assertUniqueIds, findById } from '../lookup/find-by-id.js';
import { deepSeekModels } from './deepseek-models.js';
import { modelSpecSchema, type ModelSpec } from './model-spec.js';
import { openModels } from './open-models.js';

/** Every built-in model, validated once and frozen. */
export const modelCatalog: readonly ModelSpec[] = Object.freeze(
  [...deepSeekModels, ...openModels].map((model) => Object.freeze(modelSpecSchema.parse(model))),
);
assertUniqueIds(modelCatalog, 'model');

/** The built-in model with this id; an unknown id throws an error that lists the valid ids. */
export function findModel(id: string): ModelSpec {
  return findById(modelCatalog, id, 'model');
}
