// A short built-in list of coded terms (SNOMED CT) for segments.
import type { CodedTerm } from '../api/types';

const ANATOMY: CodedTerm = { code: '123037004', scheme: 'SCT', meaning: 'Anatomical Structure' };
const ALTERED: CodedTerm = { code: '49755003', scheme: 'SCT', meaning: 'Morphologically Altered Structure' };
const TISSUE: CodedTerm = { code: '85756007', scheme: 'SCT', meaning: 'Tissue' };

export interface Term {
  key: string;
  label: string;
  category: CodedTerm;
  type: CodedTerm;
  colour: string;
}

const t = (key: string, label: string, category: CodedTerm, code: string, meaning: string, colour: string): Term => ({
  key,
  label,
  category,
  type: { code, scheme: 'SCT', meaning },
  colour,
});

export const TERMS: Term[] = [
  t('lung', 'Lung', ANATOMY, '39607008', 'Lung', '#c0604f'),
  t('lung-left', 'Left lung', ANATOMY, '44029006', 'Left lung', '#d08060'),
  t('lung-right', 'Right lung', ANATOMY, '3341006', 'Right lung', '#b05040'),
  t('liver', 'Liver', ANATOMY, '10200004', 'Liver', '#dd8250'),
  t('kidney', 'Kidney', ANATOMY, '64033007', 'Kidney', '#b97a57'),
  t('spleen', 'Spleen', ANATOMY, '78961009', 'Spleen', '#9d6c9c'),
  t('heart', 'Heart', ANATOMY, '80891009', 'Heart', '#c03030'),
  t('vessel', 'Vessel', ANATOMY, '59820001', 'Blood vessel', '#d04070'),
  t('bone', 'Bone', TISSUE, '272673000', 'Bone', '#f1d691'),
  t('tumour', 'Tumour', ALTERED, '108369006', 'Neoplasm', '#e0e040'),
  t('lesion', 'Lesion', ALTERED, '52988006', 'Lesion', '#40c0e0'),
  t('nodule', 'Nodule', ALTERED, '27925004', 'Nodule', '#60e080'),
];

export function termFor(type: CodedTerm | undefined): Term | undefined {
  return type ? TERMS.find((x) => x.type.code === type.code && x.type.scheme === type.scheme) : undefined;
}

export function hexToRgb(hex: string): [number, number, number] {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex);
  const n = m ? parseInt(m[1], 16) : 0xff0000;
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

export function rgbToHex(rgb: ArrayLike<number>): string {
  return '#' + [rgb[0], rgb[1], rgb[2]].map((x) => Math.round(x).toString(16).padStart(2, '0')).join('');
}
