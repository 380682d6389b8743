// The shapes of /api/v1 (docs/api-annotations.md and the session routes): aliases of the
// types generated from docs/openapi.json (src/api/schema.ts, `npm run gen:api`).
import type { components } from './schema';

type Schemas = components['schemas'];

export type Role = Schemas['PersonRole'];
export type Me = Schemas['Me'];
export type SessionAnswer = Schemas['SessionAnswer'];
export type Tenant = Schemas['Tenant'];
export type TenantSettingsPatch = Schemas['TenantSettingsPatch'];

export type Status = Schemas['WorkflowStatus'];
export const STATUSES: { value: Status; label: string }[] = [
  { value: 'todo', label: 'To do' },
  { value: 'in_progress', label: 'In progress' },
  { value: 'done', label: 'Done' },
  { value: 'reviewed', label: 'Reviewed' },
];

export type VocabularyTag = Schemas['VocabularyTag'];
export type TagEntry = Schemas['StudyTag'];
export type Annotations = Schemas['StudyAnnotations'];
export type AlgorithmResult = Schemas['WorklistResult'];
export type WorklistStudy = Schemas['WorklistStudy'];
export type Worklist = Schemas['Worklist'];
export type Geometry = Schemas['Geometry'];
export type CodedTerm = Schemas['CodedConcept'];

// A segment as the app sends it (meta.segments) and reads it back (a version's segments).
export type SegmentMeta = Schemas['SegmentInput'] & Partial<Pick<Schemas['Segment'], 'layer'>>;
export type SegmentationSource = Schemas['Segmentation']['source'];
export type SegmentationOrigin = Schemas['SegmentationOrigin'];
export type SegmentationVersion = Schemas['Segmentation'];

// GET /api/v1/segmentations/{id}/report: the result's TID 1500 measurement report.
export type Measurement = Schemas['Measurement'];
export type MeasurementReport = Schemas['MeasurementReport'];
