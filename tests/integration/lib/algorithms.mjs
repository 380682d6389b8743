// Process algorithms the tests register (docs/algorithm-contract.md).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Writes DIR/run.py: lungs by threshold (`low` < HU < `high`), split left/right at the
// midline, right lung 1 and left lung 2. The air around the body and in the airways is below
// any `low` a test uses.
export function writeLungThreshold(dir, low, high) {
  writeFileSync(join(dir, 'run.py'), `import nibabel as nib, numpy as np
image = nib.load("/job/input/image.nii.gz")
hu = np.asanyarray(image.dataobj).astype(np.float32)
labels = np.zeros(hu.shape, dtype=np.uint8)
lung = (hu > ${low}) & (hu < ${high})
# NIfTI world axes are RAS (+x towards the patient's right): a negative first column of
# the affine puts the patient's right at the low end of the first axis.
right = np.zeros(hu.shape, dtype=bool)
half = hu.shape[0] // 2
if image.affine[0, 0] < 0:
    right[:half, :, :] = True
else:
    right[half:, :, :] = True
labels[lung & right] = 1
labels[lung & ~right] = 2
out = nib.Nifti1Image(labels, image.affine)
out.set_data_dtype(np.uint8)
nib.save(out, "/job/output/labels.nii.gz")
`);
}
