// The shapes of /api/v1 (docs/api-annotations.md and the session routes).

export type Role = 'provider_admin' | 'provider_support' | 'clinic_admin' | 'radiologist' | 'physician';

export interface Me {
  username: string;
  tenant: string;
  role: Role;
  must_change_password: boolean;
}

export interface SessionAnswer extends Me {
  csrf_token: string;
}

export interface Tenant {
  slug: string;
  name: string;
  ae_title: string;
  settings: {
    physicians_edit_segmentations: boolean;
    share_cases_with_vendor: boolean;
    // Algorithm results also sent as an RTSTRUCT and as secondary-capture overlays, for PACS
    // viewers that cannot show a DICOM SEG (absent from a server that predates them).
    results_as_rtstruct?: boolean;
    results_as_overlay?: boolean;
    // A promotion of a version to the clinic needs a passed acceptance run of it here.
    require_acceptance?: boolean;
  };
}

export type Status = 'todo' | 'in_progress' | 'done' | 'reviewed';
export const STATUSES: { value: Status; label: string }[] = [
  { value: 'todo', label: 'To do' },
  { value: 'in_progress', label: 'In progress' },
  { value: 'done', label: 'Done' },
  { value: 'reviewed', label: 'Reviewed' },
];

export interface VocabularyTag {
  name: string;
  colour: string | null;
  description: string | null;
}

export interface TagEntry {
  id: number;
  name: string | null;
  text: string | null;
  colour: string | null;
  series_uid: string | null;
  created_by?: string;
  created_at?: number;
}

export interface Annotations {
  study_uid: string;
  status: Status;
  assignee: string | null;
  updated_at: number | null;
  updated_by: string | null;
  tags: TagEntry[];
}

export interface AlgorithmResult {
  job_id: number | string;
  algorithm: string;
  version: string;
  state: string;
  seg_series_uid: string | null;
}

export interface WorklistStudy {
  study_uid: string;
  patient_name: string | null;
  patient_id: string | null;
  study_date: string | null;
  study_time: string | null;
  description: string | null;
  accession_number: string | null;
  modalities: string[];
  series_count: number;
  instance_count: number;
  status: Status;
  assignee: string | null;
  updated_at: number | null;
  tags: TagEntry[];
  segmentations: number;
  results: AlgorithmResult[];
}

export interface Worklist {
  total: number;
  offset: number;
  limit: number;
  studies: WorklistStudy[];
}

export interface Geometry {
  series_uid: string;
  study_uid: string;
  modality: string;
  dims: [number, number, number];
  spacing: [number, number, number];
  origin: [number, number, number];
  direction: number[];
  slices: { sop_uid: string; frame: number }[];
}

export interface CodedTerm {
  code: string;
  scheme: string;
  meaning: string;
}

export interface SegmentMeta {
  label: number;
  name: string;
  colour?: string;
  category?: CodedTerm;
  type?: CodedTerm;
  layer?: number; // 0..layers-1, in a version whose segments overlap (layers > 1)
}

export type SegmentationSource = 'manual' | 'algorithm' | 'imported';

// Where an imported version came from: the SEG or RTSTRUCT another tool made (strings may
// be empty).
export interface SegmentationOrigin {
  format: 'SEG' | 'RTSTRUCT';
  manufacturer: string;
  software: string;
  series_description: string;
  sop_uid: string;
}

export interface SegmentationVersion {
  id: number;
  study_uid: string;
  source_series_uid: string;
  seg_series_uid: string;
  seg_sop_uid: string;
  parent_id: number | null;
  author: string;
  created_at: number;
  source: SegmentationSource;
  algorithm: { name: string; version: string } | null;
  job_id?: number | null; // the algorithm run that made it (source "algorithm")
  origin?: SegmentationOrigin | null; // source "imported" only
  // Imported versions are never changed: an edit is saved as a new version (parent_id set).
  read_only?: boolean;
  // Label maps it takes (segments that overlap are in different layers); 1 when absent.
  layers?: number;
  comment: string;
  segments: SegmentMeta[];
}

// GET /api/v1/segmentations/{id}/report: the result's TID 1500 measurement report (an
// Enhanced SR stored beside its SEG by the result-forms job), read back from the archive.
export interface Measurement {
  tracking_id: string; // the segment's name
  segment: number | null;
  seg_sop_uid: string;
  quantity: CodedTerm; // e.g. (118565006, SCT, "Volume")
  unit: CodedTerm; // UCUM, e.g. (mL, UCUM, "milliliter")
  value: number;
}

export interface MeasurementReport {
  sop_uid: string;
  series_uid: string;
  title: string;
  observer: string;
  measurements: Measurement[];
}
