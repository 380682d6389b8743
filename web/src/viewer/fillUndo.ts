// Cornerstone's fill tool writes voxels without an undo record. FillUndo keeps one: a copy
// of the labels before the fill, and once the fill has modified them, the changed voxels
// pushed to the shared history as one step.
import { core } from './cs';

const { utilities: csUtils } = core;

interface VoxelManager {
  getCompleteScalarDataArray?: () => unknown;
  setAtIndex: (index: number, value: never) => void;
}

export class FillUndo {
  private before: Uint8Array | null = null;

  constructor(private voxels: () => VoxelManager | undefined) {}

  get pending(): boolean {
    return this.before !== null;
  }

  // Before the fill (on the mouse press that starts it).
  begin(): void {
    const data = this.voxels()?.getCompleteScalarDataArray?.() as ArrayLike<number> | undefined;
    if (data) this.before = Uint8Array.from(data);
  }

  // After the labels changed; true when an undo step was recorded.
  finish(): boolean {
    const before = this.before;
    this.before = null;
    const vm = this.voxels();
    if (!before || !vm) return false;
    const after = vm.getCompleteScalarDataArray!() as ArrayLike<number>;
    const changed: number[] = [];
    for (let i = 0; i < after.length; i++) if (after[i] !== before[i]) changed.push(i);
    if (changed.length === 0) return false;
    const oldValues = changed.map((i) => before[i]);
    const newValues = changed.map((i) => after[i]);
    csUtils.HistoryMemo.DefaultHistoryMemo.push({
      restoreMemo: (undo?: boolean) => {
        const values = undo ? oldValues : newValues;
        changed.forEach((i, n) => vm.setAtIndex(i, values[n] as never));
      },
    });
    return true;
  }
}
