// Enhanced multi-frame objects keep each frame's position, orientation, spacing, rescale
// and window in functional groups (shared and per frame). The image loader's metadata
// wants them as plain attributes, so each frame gets a flattened copy of the instance's
// DICOM JSON: the groups' values lifted to the top level, and no frame count (each copy
// describes exactly one frame).

export type DicomJson = Record<string, { vr?: string; Value?: unknown[]; [k: string]: unknown }>;

const SharedFunctionalGroups = '52009229';
const PerFrameFunctionalGroups = '52009230';
const NumberOfFrames = '00280008';

// functional group sequence -> the attributes it carries
const GROUPS: Record<string, string[]> = {
  '00209113': ['00200032'], // PlanePositionSequence: ImagePositionPatient
  '00209116': ['00200037'], // PlaneOrientationSequence: ImageOrientationPatient
  '00289110': ['00280030', '00180050', '00180088'], // PixelMeasuresSequence: PixelSpacing, SliceThickness, SpacingBetweenSlices
  '00289145': ['00281052', '00281053', '00281054'], // PixelValueTransformationSequence: RescaleIntercept, Slope, Type
  '00289132': ['00281050', '00281051'], // FrameVOILUTSequence: WindowCenter, WindowWidth
};

export function isEnhancedMultiframe(inst: DicomJson): boolean {
  return !!(inst[PerFrameFunctionalGroups] || inst[SharedFunctionalGroups]);
}

function lift(into: DicomJson, group: DicomJson | undefined) {
  if (!group) return;
  for (const [seq, tags] of Object.entries(GROUPS)) {
    const item = group[seq]?.Value?.[0] as DicomJson | undefined;
    if (!item) continue;
    for (const t of tags) if (item[t]?.Value) into[t] = item[t];
  }
}

// The instance as frame `frame` (1-based) alone.
export function flattenFrame(inst: DicomJson, frame: number): DicomJson {
  const out: DicomJson = { ...inst };
  delete out[SharedFunctionalGroups];
  delete out[PerFrameFunctionalGroups];
  delete out[NumberOfFrames];
  lift(out, inst[SharedFunctionalGroups]?.Value?.[0] as DicomJson | undefined);
  lift(out, inst[PerFrameFunctionalGroups]?.Value?.[frame - 1] as DicomJson | undefined);
  return out;
}
