// MonaiLabel: the use cases behind the MONAI Label–compatible surface that lets 3D Slicer's
// MONAI Label module and OHIF's MONAI Label panel use the licensed algorithms unchanged
// (api/monailabel/ maps them onto MONAI Label's wire format; docs/slicer-ohif.md says how to
// connect). Everything goes through the same paths as the rest of voxelgate: images into
// the clinic's archive, runs through the job queue (licence checks, metering, audit,
// monitoring), corrections as segmentation versions whose parent is the algorithm's.
//
// Image ids: a SeriesInstanceUID of the archive, a name a client uploaded an image under
// (or a session id), or a signed id handed out by NextSample (it lets Slicer download the
// image without a token, as it does, for a day).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "licensing/licensing.h"
#include "services/algorithms.h"
#include "services/runs.h"
#include "services/segmentations.h"
#include "services/upload_spool.h"
#include "services/volumes.h"
#include "storage/image_alias_store.h"
#include "storage/job_store.h"

namespace vg::services {

// A file of an upload, spooled to the staging area (services/upload_spool.h).
using UploadedFile = SpooledFile;

struct LabelFile {
  std::string filename;  // e.g. label_ct-lungs_42.nrrd
  std::string bytes;
  nlohmann::json params;  // label_names, centroids, job and segmentation ids, latencies
};

struct ResultFormat {
  std::string extension = ".nrrd";  // .nrrd, .nii.gz, .nii
  bool uint16 = false;
  bool compress = false;
};

class MonaiLabel {
 public:
  MonaiLabel(Archive& archive, storage::ImageAliasStore& aliases, storage::AnnotationStore& annotations,
             storage::JobStore& jobs, Volumes& volumes, Segmentations& segmentations, Algorithms& algorithms, Runs& runs,
             licensing::Licensing& licensing)
      : archive_(archive),
        aliases_(aliases),
        annotations_(annotations),
        jobs_(jobs),
        volumes_(volumes),
        segmentations_(segmentations),
        algorithms_(algorithms),
        runs_(runs),
        licensing_(licensing) {}

  // What /info/ says: each algorithm the clinic may run is a segmentation model.
  Result<nlohmann::json> Info(std::int64_t tenant_id, std::int64_t now);

  // The series an image id names (kNotFound when none of the clinic's does).
  Result<std::string> SeriesOf(std::int64_t tenant_id, const std::string& image_id, std::int64_t now);

  // Stores an uploaded image in the clinic's archive: a NIfTI or NRRD file becomes a DICOM
  // series (derived, its conversion recorded); a zip of DICOM files or DICOM files are
  // stored as they are. `name` then names the series (until `expires_at`, 0: always).
  Result<std::string> StoreImage(std::int64_t tenant_id, const std::string& name, const std::vector<const UploadedFile*>& files,
                                 const std::string& kind, std::int64_t expires_at, std::int64_t now);

  // Runs `model` on the series through the job queue and waits for it (at most `timeout`
  // seconds, or until `cancelled`); the result as a label file.
  Result<LabelFile> Infer(std::int64_t tenant_id, const std::string& model, const std::string& series_uid,
                          const std::string& author, const ResultFormat& format, int timeout_seconds,
                          const std::function<bool()>& cancelled, const std::function<void()>& queued);

  // A clinician's label for the series: a new segmentation version (NIfTI, NRRD, or raw
  // bytes on the series grid), whose parent is the newest algorithm result on that series,
  // so that monitoring compares them. `label_info`: [{name, idx}] names the segments.
  Result<SegmentationView> SaveLabel(std::int64_t tenant_id, const std::string& series_uid, const UploadedFile& label,
                                     const nlohmann::json& label_info, const std::string& author);

  // The clinic's volumes (CT and MR series) with their label status.
  Result<nlohmann::json> Datastore(std::int64_t tenant_id, const std::string& output);
  // The next study to annotate by the workflow status (strategy "first": the oldest still
  // to do; "last": the newest); {} when none. The id is signed so that it downloads without a token.
  // The link is for `user_id` and lasts link_seconds.
  Result<nlohmann::json> NextSample(std::int64_t tenant_id, const std::string& tenant_slug, std::int64_t user_id,
                                    const std::string& strategy, std::int64_t now);

  // Signed ids: "<series>~<tenant>~<user id>~<expires>~<signature>": they name the user
  // they were handed to, whose rights the download is checked against again.
  Result<std::string> SignedId(std::int64_t tenant_id, const std::string& tenant_slug, std::int64_t user_id,
                               const std::string& series_uid, std::int64_t expires_at);
  struct SignedImage {
    std::int64_t tenant_id = 0, user_id = 0;
    std::string series_uid;
  };
  // What a signed id that is valid at `now` stands for.
  Result<SignedImage> VerifySignedId(const std::string& id, std::int64_t now);
  // How long a signed link lasts (minutes: Slicer downloads it at once).
  void SetLinkSeconds(std::int64_t seconds) { link_seconds_ = seconds; }

  Volumes& volumes() { return volumes_; }

 private:
  std::int64_t link_seconds_ = 600;
  Archive& archive_;
  storage::ImageAliasStore& aliases_;
  storage::AnnotationStore& annotations_;
  storage::JobStore& jobs_;
  Volumes& volumes_;
  Segmentations& segmentations_;
  Algorithms& algorithms_;
  Runs& runs_;
  licensing::Licensing& licensing_;
};

// "image.nii.gz" -> ".nii.gz"; the ending of a client's file name (paths and backslashes
// ignored), lower-cased.
std::string FileEnding(const std::string& filename);

}  // namespace vg::services
