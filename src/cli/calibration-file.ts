/**
 * `<home>/calibration.json`: the measured efficiencies `edgefleet calibrate` stores and `edgefleet estimate`
 * applies. The planner never touches the file; this is the I/O half of src/planner/calibration/
 * measured-efficiency.ts.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  calibrationFileSchema,
  withCalibration,
  type CalibrationEntry,
  type CalibrationFile,
} from '../planner/calibration/measured-efficiency.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';

export function calibrationPath(home: string): string {
  return join(home, 'calibration.json');
}

/** The stored file, or null when there is none yet; a damaged file is an error that names it. */
export async function readCalibrationFile(home: string): Promise<CalibrationFile | null> {
  const path = calibrationPath(home);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new EdgeFleetError('invalid_argument', `${path} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = calibrationFileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new EdgeFleetError('invalid_argument', `${path}: ${problems.join('; ')}`, { data: { problems } });
  }
  return parsed.data;
}

/** Appends one entry (written to a temporary file, then renamed, so a reader never sees half a file). */
export async function appendCalibration(home: string, entry: CalibrationEntry): Promise<string> {
  const file = withCalibration(await readCalibrationFile(home), entry);
  await mkdir(home, { recursive: true });
  const path = calibrationPath(home);
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(file, null, 2)}\n`);
  await rename(temporary, path);
  return path;
}
