// vtk.js's XML reader/writer pull in xmlbuilder2, which needs Node's `events`; the viewer
// never reads or writes VTK XML, so the bundle gets this stand-in instead.
const unavailable = () => {
  throw new Error('VTK XML is not available in the voxelgate viewer');
};
export const create = unavailable;
export const fragment = unavailable;
export const convert = unavailable;
export default { create, fragment, convert };
