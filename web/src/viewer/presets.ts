// Window presets (HU): width / level.
export interface Preset {
  key: string;
  label: string;
  width: number;
  level: number;
}

export const PRESETS: Preset[] = [
  { key: 'lung', label: 'Lung', width: 1500, level: -600 },
  { key: 'mediastinum', label: 'Mediastinum', width: 350, level: 50 },
  { key: 'bone', label: 'Bone', width: 2000, level: 500 },
  { key: 'brain', label: 'Brain', width: 80, level: 40 },
  { key: 'abdomen', label: 'Abdomen', width: 400, level: 50 },
];

export const toRange = (p: { width: number; level: number }) => ({ lower: p.level - p.width / 2, upper: p.level + p.width / 2 });
export const fromRange = (r: { lower: number; upper: number }) => ({ width: r.upper - r.lower, level: (r.upper + r.lower) / 2 });
