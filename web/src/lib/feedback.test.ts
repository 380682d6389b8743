import { describe, expect, it } from 'vitest';
import type { Feedback } from '../api/jobs';
import { correctionDice, formatDice, formatRate, verdictCounts } from './feedback';

const f = (verdict: Feedback['verdict'], dice: number[] = []): Feedback => ({
  id: 1, job_id: 1, verdict, reason: '', author: 'doc', created_at: 0, segmentation_id: null,
  metrics: verdict === 'correct' ? dice.map((d, i) => ({ label: i + 1, name: `S${i}`, dice: d, volume_algorithm_ml: 1, volume_corrected_ml: 1, volume_difference_ml: 0, hd95_mm: 1 })) : null,
});

describe('feedback summaries', () => {
  it('averages the Dice of corrections over their segments', () => {
    expect(correctionDice([f('accept')])).toBeNull();
    expect(correctionDice([f('reject'), f('correct', [0.8, 0.9]), f('correct', [0.7])])).toBeCloseTo(0.8);
  });

  it('counts verdicts and formats rates', () => {
    expect(verdictCounts([f('accept'), f('reject'), f('correct', [1]), f('reject')])).toEqual({ accept: 1, reject: 2, correct: 1 });
    expect(formatRate(1 / 3)).toBe('33 %');
    expect(formatRate(null)).toBe('–');
    expect(formatDice(0.8)).toBe('0.800');
  });
});
