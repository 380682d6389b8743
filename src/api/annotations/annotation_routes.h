// Routes of the annotations API (docs/api-annotations.md): clinic settings, tags,
// workflow status, worklist (annotation_routes.cpp); series geometry and volumes,
// segmentation versions (segmentation_routes.cpp).
#pragma once

#include "api/guard.h"
#include "http/router.h"

namespace vg::api {

void AddAnnotationRoutes(http::Router& router, const ApiDeps& deps);
void AddSegmentationRoutes(http::Router& router, const ApiDeps& deps);

}  // namespace vg::api
