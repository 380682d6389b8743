// A MONAI Label–compatible REST surface under a configurable prefix (default /monailabel),
// enough for 3D Slicer's MONAI Label module and OHIF's MONAI Label panel to work unchanged:
// auth, info, infer, datastore (images, labels), next sample, sessions; no training.
#pragma once

#include "api/guard.h"

namespace vg::api {

void AddMonaiLabelRoutes(http::Router& router, const ApiDeps& deps);

}  // namespace vg::api
