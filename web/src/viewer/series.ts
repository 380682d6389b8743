// A study's series (QIDO-RS) and one series' instances as Cornerstone image ids, with the
// WADO-RS metadata registered for the image loader.
import { ApiError, enc, request } from '../api/http';
import { flattenFrame, isEnhancedMultiframe } from '../lib/multiframe';
import { dicomImageLoader } from './cs';

import type { DicomJson } from '../lib/multiframe';

export const val = <T = string>(o: DicomJson | undefined, tag: string): T | undefined => o?.[tag]?.Value?.[0] as T | undefined;
export const pn = (o: DicomJson | undefined, tag: string): string => {
  const v = val<{ Alphabetic?: string } | string>(o, tag);
  return typeof v === 'string' ? v : (v?.Alphabetic ?? '');
};

export interface SeriesInfo {
  uid: string;
  number: number | null;
  modality: string;
  description: string;
  instances: number;
}

export interface StudyInfo {
  uid: string;
  patientName: string;
  patientId: string;
  date: string;
  description: string;
  accession: string;
}

async function dicomJson(path: string): Promise<DicomJson[]> {
  const res = await request('GET', path, { headers: { Accept: 'application/dicom+json' } });
  if (res.status === 204) return [];
  const text = await res.text();
  return text ? (JSON.parse(text) as DicomJson[]) : [];
}

export async function loadStudy(study: string): Promise<{ study: StudyInfo; series: SeriesInfo[] }> {
  const [studies, series] = await Promise.all([
    dicomJson(`/dicomweb/studies?StudyInstanceUID=${enc(study)}&includefield=00081030,00100010,00100020,00080050`),
    dicomJson(`/dicomweb/studies/${enc(study)}/series?includefield=0008103E`).catch((e) => {
      if (e instanceof ApiError && e.status === 404) return [];
      throw e;
    }),
  ]);
  if (studies.length === 0) throw new ApiError(404, 'not_found', 'not found');
  const s = studies[0];
  return {
    study: {
      uid: study,
      patientName: pn(s, '00100010'),
      patientId: val(s, '00100020') ?? '',
      date: val(s, '00080020') ?? '',
      description: val(s, '00081030') ?? '',
      accession: val(s, '00080050') ?? '',
    },
    series: series
      .map((x) => ({
        uid: val(x, '0020000E')!,
        number: val<number>(x, '00200011') ?? null,
        modality: val(x, '00080060') ?? '',
        description: val(x, '0008103E') ?? '',
        instances: Number(val(x, '00201209') ?? 0),
      }))
      .sort((a, b) => (a.number ?? 1e9) - (b.number ?? 1e9)),
  };
}

// Image ids for every frame of the series' image instances, metadata registered.
export async function seriesImageIds(study: string, series: string): Promise<string[]> {
  const instances = await dicomJson(`/dicomweb/studies/${enc(study)}/series/${enc(series)}/metadata`);
  const ids: string[] = [];
  const frameMeta: DicomJson[] = [];
  for (const inst of instances) {
    if (!inst['7FE00010'] && !inst['00280010']) continue; // no pixels (SR, SEG without rows...)
    const sop = val(inst, '00080018')!;
    const frames = Number(val(inst, '00280008') ?? 1) || 1;
    const enhanced = isEnhancedMultiframe(inst);
    for (let f = 1; f <= frames; f++) {
      const id = `wadors:/dicomweb/studies/${enc(study)}/series/${enc(series)}/instances/${enc(sop)}/frames/${f}`;
      const meta = enhanced ? flattenFrame(inst, f) : inst;
      dicomImageLoader.wadors.metaDataManager.add(id, meta as never);
      ids.push(id);
      frameMeta.push(meta);
    }
  }
  const problem = volumeProblem(frameMeta);
  if (problem) throw new Error(`This series cannot be shown: ${problem}.`);
  return ids;
}

// Why the images cannot be stacked into a volume (null when they can): every image needs
// its position, orientation and pixel spacing.
export function volumeProblem(instances: DicomJson[]): string | null {
  const missing = new Set<string>();
  for (const inst of instances) {
    if (!inst['00200032']?.Value) missing.add('position');
    if (!inst['00200037']?.Value) missing.add('orientation');
    if (!inst['00280030']?.Value) missing.add('pixel spacing');
  }
  return missing.size ? `its images have no patient ${[...missing].join(', ')}, so it cannot be shown in three planes` : null;
}

export const isImageSeries = (s: SeriesInfo) => !['SEG', 'SR', 'RTSTRUCT', 'PR', 'KO', 'DOC'].includes(s.modality);
