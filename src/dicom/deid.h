// De-identification: the DICOM PS3.15 Annex E Basic Application Level Confidentiality
// Profile, driven by the standard's attribute table (Table E.1-1, kept as data in
// deid_table.tsv and compiled in), with its options:
//   retain-long-full-dates, retain-long-modified-dates (dates shifted per patient by a
//   consistent offset), retain-patient-chars, retain-device-id, retain-institution-id,
//   retain-safe-private, retain-uids, clean-descriptors.
//
// What replaces what:
// * PatientID and PatientName become one pseudonym, a keyed hash of the patient's ID (and
//   issuer) under the secret: the same patient always gets the same pseudonym, and the ID
//   cannot be recovered or confirmed without the secret.
// * Instance UIDs (action U) are remapped to 2.25.<keyed hash>, so study, series, frame
//   of reference and every reference to them (in sequences, in a SEG) stay consistent.
// * PatientIdentityRemoved YES, DeidentificationMethod, the method code sequence (CID 7050)
//   and LongitudinalTemporalInformationModified are set.
//
// Limits: text burned into the pixels is not detected (see DeidScreen for the per-clinic
// rule that refuses series known to carry it). Private attributes are removed unless
// retain-safe-private, which keeps only the ones PS3.15 E.3.10 lists as safe.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "crypto/crypto.h"

namespace vg::dicom {

struct DeidOptions {
  bool retain_long_full_dates = false;
  bool retain_long_modified_dates = false;
  bool retain_patient_chars = false;
  bool retain_device_id = false;
  bool retain_institution_id = false;
  bool retain_safe_private = false;
  bool retain_uids = false;
  bool clean_descriptors = false;

  // "basic" followed by "+option" for each option on, in a fixed order.
  std::string Name() const;
};

// "basic", "basic+retain-uids+clean-descriptors", ...; kInvalidArgument names an unknown
// option. "off" is not a profile (callers handle it).
Result<DeidOptions> ParseDeidProfile(std::string_view text);

// One row of Table E.1-1. `tag`/`mask`: the element matches when (element & mask) == tag
// (a repeating group like 50xx,xxxx has zeros in the mask where the standard has x).
struct DeidRule {
  std::uint32_t tag = 0, mask = 0xFFFFFFFF;
  std::string keyword, name;
  std::string basic;  // D, Z, X, K, C, U, Z/D, X/Z, X/D, X/Z/D, X/Z/U*
  // Per option, the action it gives (empty: the option does not change this attribute).
  std::string rtn_safe_priv, rtn_uids, rtn_dev_id, rtn_inst_id, rtn_pat_chars, rtn_long_full_dates,
      rtn_long_modif_dates, clean_desc;
};

// The table, parsed once from the compiled-in TSV.
const std::vector<DeidRule>& DeidRules();
// The rule for an element, if the table names it.
const DeidRule* FindDeidRule(std::uint16_t group, std::uint16_t element);
// The action the options leave for a rule: the basic one unless an option that is on
// gives another (when several do, the most retaining wins: K, then C, then the basic).
std::string EffectiveAction(const DeidRule& rule, const DeidOptions& options);

// Keyed derivations (the secret never leaves the caller).
std::string PseudonymOf(const crypto::SecretKey& secret, std::string_view patient_id, std::string_view issuer);
std::string RemapUid(const crypto::SecretKey& secret, std::string_view uid);
// Days (negative: into the past, one to ten years) that a patient's dates move by.
std::int64_t DateShiftDays(const crypto::SecretKey& secret, std::string_view patient_id, std::string_view issuer);
// A DA (YYYYMMDD) or the date part of a DT moved by `days`; other text unchanged.
std::string ShiftDate(std::string_view value, std::int64_t days);

struct DeidChange {
  std::string tag;      // "(0010,0010)", nested: "(0008,1115)[0]/(0008,1155)"
  std::string keyword;  // "" for private or unknown
  std::string action;   // the action applied: D, Z, X, K, C, U, or "private"
};

struct DeidResult {
  std::string part10;  // the de-identified file, in the transfer syntax it came in
  std::string pseudonym;
  std::string study_uid, series_uid, sop_uid;                  // the new ones
  std::string original_study_uid, original_series_uid, original_sop_uid;
  std::map<std::string, std::string> uid_map;                   // original -> new, every UID remapped
  std::vector<DeidChange> changes;                              // what changed (not what was kept)
};

// De-identifies one Part 10 file. kInvalidArgument when it cannot be parsed.
Result<DeidResult> Deidentify(std::string_view part10, const DeidOptions& options, const crypto::SecretKey& secret);

// Who and what an object was about, before de-identification: kept by a gateway (sealed,
// inside the hospital) to give results back their real patient and study.
struct PatientStudyIdentity {
  std::string patient_name, patient_id, issuer_of_patient_id, patient_birth_date, patient_sex;
  std::string study_date, study_time, accession_number, study_id, referring_physician_name, study_description;
};
Result<PatientStudyIdentity> ReadIdentity(std::string_view part10);

// Re-identification of a result made from de-identified data (a SEG): every UID that
// `original_uid` knows is put back (the result then references the original series and
// instances, so PACS viewers overlay it), the patient and study attributes are restored,
// and the de-identification marks are removed. UIDs it does not know (the result's own)
// stay. The output keeps the input's transfer syntax.
Result<std::string> Reidentify(std::string_view part10,
                               const std::function<std::optional<std::string>(const std::string&)>& original_uid,
                               const PatientStudyIdentity& identity);

// A clinic's rule against series that carry text in their pixels: refuses modalities
// (e.g. SC, OT), series descriptions containing a listed phrase (case-insensitive), and
// any image marked BurnedInAnnotation YES (where refuse_burned_in_annotation). Returns the
// reason, or none to accept.
struct DeidScreen {
  std::vector<std::string> reject_modalities;
  std::vector<std::string> reject_descriptions;
  bool refuse_burned_in_annotation = false;  // on wherever objects are de-identified
};
std::optional<std::string> ScreenForBurnedInText(std::string_view part10, const DeidScreen& screen);

// What the clinic's profile would still remove from an instance that says it was
// de-identified: the keywords (at most `limit`) of identifying attributes present with a
// value: those the profile removes, empties or replaces with a dummy, private attributes
// it does not keep, and a patient name or ID that is not a voxelgate pseudonym. UIDs,
// dates an option keeps or shifts and free text the profile cleans are not judged.
Result<std::vector<std::string>> ResidualIdentifiers(std::string_view part10, const DeidOptions& profile,
                                                     size_t limit = 8);

// A clinic's privacy policy on one instance, read once: refused by the screen; or
// de-identified by `profile`, whatever the instance says about itself; or, only when it
// comes from the clinic's trusted de-identifier (its gateway) and says it was
// de-identified by this profile already (doing it again would remap its UIDs again),
// stored as it came if nothing identifying is left in it (ResidualIdentifiers), refused
// with their names otherwise; or neither (no profile).
struct PrivacyOutcome {
  std::optional<std::string> refused;       // why, for the sender
  std::optional<DeidResult> deidentified;   // none: store the instance as it came
};
Result<PrivacyOutcome> ApplyPrivacy(std::string_view part10, const std::optional<DeidOptions>& profile,
                                    const crypto::SecretKey& secret, const DeidScreen& screen,
                                    bool from_trusted_deidentifier = false);

}  // namespace vg::dicom
