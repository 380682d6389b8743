// Jobs of kind "acceptance" (services/acceptance.h): the version on every reference case
// of the clinic, one after the other, each output compared with its reference per segment
// (Dice, HD95), the worst cases pictured; the report recorded with the run. A case that
// fails (the algorithm, or its input) is a failure of the version, not of the job.
#pragma once

#include "jobs/algorithm_handler.h"
#include "services/acceptance.h"

namespace vg::jobs {

class AcceptanceHandler final : public JobHandler {
 public:
  AcceptanceHandler(AlgorithmHandler& algorithms, services::Acceptance& acceptance, services::Algorithms& registry,
                    services::Volumes& volumes, services::Segmentations& segmentations, storage::AnnotationStore& annotations)
      : algorithms_(algorithms),
        acceptance_(acceptance),
        registry_(registry),
        volumes_(volumes),
        segmentations_(segmentations),
        annotations_(annotations) {}
  std::string Kind() const override { return services::Acceptance::kJobKind; }
  Result<std::string> Run(const storage::JobRecord& job, services::JobProgress& progress) override;

 private:
  AlgorithmHandler& algorithms_;
  services::Acceptance& acceptance_;
  services::Algorithms& registry_;
  services::Volumes& volumes_;
  services::Segmentations& segmentations_;
  storage::AnnotationStore& annotations_;
};

}  // namespace vg::jobs
