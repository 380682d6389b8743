// SegmentationImporter: every DICOM SEG and RTSTRUCT that reaches a clinic, by any path
// (STOW-RS, C-STORE, browser upload, the gateway), becomes an imported segmentation
// version of the series it references. It looks at the catalog, not at the ingest paths,
// so no path can miss it and nothing is lost across a restart: an instance is a candidate
// until a record says what became of it (storage::SegmentationImportRecord).
//
// * SEG: BINARY, FRACTIONAL (a voxel is in where the value is at least half the SEG's
//   maximum fractional value) and LABELMAP, on the grid of the series it references
//   (Referenced Series Sequence, else the images its frames derive from). Segments that
//   overlap are kept, each whole, in label-map layers (dicom::LayerMasks).
// * RTSTRUCT: each ROI's CLOSED_PLANAR contours rasterised onto the referenced series'
//   grid (dicom::RasteriseRtStruct: a voxel is in when its centre is inside, holes by
//   XOR), one segment per ROI.
// * A referenced series that is not here yet, or is still arriving, leaves the object
//   waiting; it is imported once that series has been quiet for kQuietSeconds.
// * Only the clinic's own series are looked at: another clinic's object naming the same
//   UIDs never attaches to this clinic's series (every query is by tenant).
// Objects voxelgate made itself are recorded "internal" before they are stored.
#pragma once

#include <cstdint>
#include <variant>

#include "services/segmentations.h"

namespace vg::services {

class SegmentationImporter {
 public:
  static constexpr std::int64_t kQuietSeconds = 2;

  SegmentationImporter(Archive& archive, storage::AnnotationStore& store, Volumes& volumes, Segmentations& segmentations)
      : archive_(archive), store_(store), volumes_(volumes), segmentations_(segmentations) {}

  // Imports (or records as waiting or failed) up to `limit` due objects; returns how many
  // it looked at. One at a time across a cluster: the caller holds the leader lease. Not
  // thread-safe.
  Result<int> RunOnce(std::int64_t now, std::int64_t limit = 20);
  // One object, at time `now`; what became of it is recorded and returned.
  Result<storage::SegmentationImportRecord> Import(const storage::SegmentationImportCandidate& candidate, std::int64_t now);

 private:
  struct Outcome;
  Result<Outcome> ImportSeg(const storage::SegmentationImportCandidate& c, std::string part10, std::int64_t now);
  Result<Outcome> ImportRtStruct(const storage::SegmentationImportCandidate& c, std::string part10, std::int64_t now);
  // The source series (the clinic's first of `series_uids`, else the series of the first of
  // `sop_uids` it holds) with its geometry, once it has settled and is in the object's
  // study; otherwise what to record instead (waiting, failed).
  Result<std::variant<Outcome, SeriesVolume>> SettledSource(const storage::SegmentationImportCandidate& c,
                                                             const std::vector<std::string>& series_uids,
                                                             const std::vector<std::string>& sop_uids, std::int64_t now);
  // A waiting outcome when the series got an instance within kQuietSeconds.
  Result<std::optional<Outcome>> StillArriving(std::int64_t tenant_id, const std::string& series_uid, std::int64_t now);
  // The clinic's series among `series_uids`, else the series of the first of `sop_uids` it holds.
  Result<std::string> FindSourceSeries(std::int64_t tenant_id, const std::vector<std::string>& series_uids,
                                       const std::vector<std::string>& sop_uids);

  Archive& archive_;
  storage::AnnotationStore& store_;
  Volumes& volumes_;
  Segmentations& segmentations_;
  std::int64_t last_full_scan_ = 0;  // RunOnce's last look at every instance
};

}  // namespace vg::services
