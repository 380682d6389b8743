#include "dicom/deid.h"

#include "dicom/dicom.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <set>
#include <unordered_map>
#include <sstream>

#include "core/strings.h"
#include "dicom/dcmtk_io.h"

namespace vg::dicom {

extern const char kDeidTableTsv[];    // deid_table.tsv, compiled in (CMake)
extern const char kSafePrivateTsv[];  // deid_safe_private.tsv

namespace {

// ---- the table ----

std::vector<std::string> SplitTabs(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t tab = line.find('\t', start);
    out.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  for (auto& f : out) {
    while (!f.empty() && (f.back() == '\r' || f.back() == ' ')) f.pop_back();
    while (!f.empty() && f.front() == ' ') f.erase(f.begin());
  }
  return out;
}

// "0010xxxx" / "50xxxxxx" -> tag and mask.
bool ParseTagPattern(const std::string& text, std::uint32_t& tag, std::uint32_t& mask) {
  if (text.size() != 8) return false;
  tag = 0;
  mask = 0;
  for (char c : text) {
    tag <<= 4;
    mask <<= 4;
    if (c == 'x' || c == 'X') continue;
    const int v = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                  : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                  : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
                                                              : -1;
    if (v < 0) return false;
    tag |= static_cast<std::uint32_t>(v);
    mask |= 0xF;
  }
  return true;
}

std::vector<DeidRule> ParseTable() {
  std::vector<DeidRule> rules;
  std::istringstream in(kDeidTableTsv);
  std::string line;
  std::vector<std::string> header;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto fields = SplitTabs(line);
    if (header.empty()) {
      header = fields;
      continue;
    }
    auto field = [&](const char* name) -> std::string {
      for (size_t i = 0; i < header.size() && i < fields.size(); ++i)
        if (header[i] == name) return fields[i];
      return {};
    };
    DeidRule rule;
    if (!ParseTagPattern(field("tag"), rule.tag, rule.mask)) continue;
    rule.keyword = field("keyword");
    rule.name = field("name");
    rule.basic = field("basic");
    rule.rtn_safe_priv = field("rtn_safe_priv");
    rule.rtn_uids = field("rtn_uids");
    rule.rtn_dev_id = field("rtn_dev_id");
    rule.rtn_inst_id = field("rtn_inst_id");
    rule.rtn_pat_chars = field("rtn_pat_chars");
    rule.rtn_long_full_dates = field("rtn_long_full_dates");
    rule.rtn_long_modif_dates = field("rtn_long_modif_dates");
    rule.clean_desc = field("clean_desc");
    rules.push_back(std::move(rule));
  }
  // Exact tags before patterns, so that a specific row wins over a repeating group.
  std::stable_sort(rules.begin(), rules.end(), [](const DeidRule& a, const DeidRule& b) {
    return __builtin_popcount(a.mask) > __builtin_popcount(b.mask);
  });
  return rules;
}

// ---- keyed derivations ----

constexpr std::string_view kBase32Alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";  // no I, O, 0, 1

std::string Base32(std::span<const std::uint8_t> bytes, size_t chars) {
  constexpr std::string_view kAlphabet = kBase32Alphabet;
  std::string out;
  std::uint64_t buffer = 0;
  int bits = 0;
  for (std::uint8_t b : bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5 && out.size() < chars) {
      out += kAlphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
    if (out.size() >= chars) break;
  }
  return out;
}

std::string Keyed(const crypto::SecretKey& secret, std::string_view purpose, std::string_view a, std::string_view b = {}) {
  std::string input(purpose);
  input += '\n';
  input += a;
  input += '\n';
  input += b;
  auto digest = crypto::KeyedHash(secret, input);
  return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

// ---- what a dummy value is, per VR ----

std::string DummyFor(DcmEVR vr) {
  switch (vr) {
    case EVR_DA: return "19000101";
    case EVR_TM: return "000000";
    case EVR_DT: return "19000101000000";
    case EVR_PN: return "ANONYMOUS";
    case EVR_AS: return "000Y";
    case EVR_IS:
    case EVR_DS: return "0";
    case EVR_CS: return "ANONYMIZED";
    case EVR_AE: return "ANONYMOUS";
    default: return "ANONYMIZED";
  }
}

// The VR an attribute's keyword implies (...UID: UI, ...DateTime: DT, ...Date: DA, ...Time:
// TM, ...Sequence: SQ, else LO), for attributes newer than DCMTK's dictionary sent as UN.
DcmEVR VrFromKeyword(const std::string& keyword) {
  if (keyword.ends_with("UID") || keyword.ends_with("UIDs")) return EVR_UI;
  if (keyword.ends_with("DateTime")) return EVR_DT;
  if (keyword.ends_with("Date")) return EVR_DA;
  if (keyword.ends_with("Time")) return EVR_TM;
  if (keyword.ends_with("Sequence")) return EVR_SQ;
  return EVR_LO;
}

bool IsText(DcmEVR vr) {
  return vr == EVR_SH || vr == EVR_LO || vr == EVR_ST || vr == EVR_LT || vr == EVR_UT || vr == EVR_PN || vr == EVR_UC;
}

// Attributes the common image IODs require at the top level: for X/Z, X/D and X/Z/D the
// standard keeps an empty (Type 2) or dummy (Type 1) value where removing it would break
// the object.
const std::set<std::string>& Type2Keywords() {
  static const std::set<std::string> k = {"PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
                                          "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber",
                                          "ContentDate", "ContentTime", "PatientOrientation"};
  return k;
}
const std::set<std::string>& Type1Keywords() {
  static const std::set<std::string> k = {"AcquisitionDateTime", "FrameAcquisitionDateTime", "FrameReferenceDateTime"};
  return k;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The one action the profile takes on this element here: the standard's alternatives
// (X/Z, X/D, ...) decided by where the element is (top level or inside a sequence) and
// whether the common image IODs require it.
std::string ResolveAction(const DeidRule& rule, const DeidOptions& options, DcmElement* element, int depth) {
  std::string action = EffectiveAction(rule, options);
  const bool type1 = depth == 0 && Type1Keywords().count(rule.keyword);
  const bool type2 = depth == 0 && Type2Keywords().count(rule.keyword);
  if (action == "Z/D") return type1 ? "D" : "Z";
  if (action == "X/Z") return type2 || type1 ? "Z" : "X";
  if (action == "X/D") return type1 || type2 ? "D" : "X";
  if (action == "X/Z/D") return type1 ? "D" : type2 ? "Z" : "X";
  // References to other instances: kept, with their UIDs replaced inside.
  if (action == "X/Z/U*" || action == "X/Z/U") return element->ident() == EVR_SQ ? "K" : "U";
  return action;
}

// The private attributes PS3.15 E.3.10 lists as safe (creator, element low byte).
struct SafePrivate {
  std::string creator;
  std::uint16_t group;
  std::uint8_t element;
};
const std::vector<SafePrivate>& SafePrivates();

// Whether the profile keeps this private element: only with retain-safe-private, and then
// only the creators and the elements PS3.15 E.3.10 lists as safe.
bool KeepsPrivate(const DeidOptions& options, DcmItem& item, const DcmTagKey& key) {
  if (!options.retain_safe_private) return false;
  const std::uint16_t element = key.getElement();
  if (element >= 0x0010 && element <= 0x00FF) return true;  // a creator: kept while its block may be
  OFString creator;
  const DcmTagKey creator_key(key.getGroup(), element >> 8);
  if (item.findAndGetOFString(creator_key, creator).bad()) return false;
  for (const auto& safe : SafePrivates())
    if (safe.group == key.getGroup() && safe.element == (element & 0xFF) && safe.creator == creator.c_str())
      return true;
  return false;
}

class Walker {
 public:
  Walker(const DeidOptions& options, const crypto::SecretKey& secret, DeidResult& out)
      : options_(options), secret_(secret), out_(out) {}

  void Prepare(DcmDataset& ds) {
    const std::string patient_id = GetString(ds, DCM_PatientID);
    const std::string issuer = GetString(ds, DCM_IssuerOfPatientID);
    out_.pseudonym = PseudonymOf(secret_, patient_id, issuer);
    shift_days_ = DateShiftDays(secret_, patient_id, issuer);
    // What "clean" scrubs out of free text: the patient's identifiers as they appear here.
    for (const DcmTagKey& tag : {DCM_PatientID, DCM_AccessionNumber, DCM_PatientBirthDate, DCM_RETIRED_OtherPatientIDs,
                                 DCM_PatientBirthName, DCM_PatientMotherBirthName})
      AddTokens(GetString(ds, tag));
    std::string name = GetString(ds, DCM_PatientName);
    for (char& c : name)
      if (c == '^' || c == '=' || c == ',') c = ' ';
    AddTokens(name);
  }

  void Walk(DcmItem& item, const std::string& path, int depth) {
    std::vector<DcmElement*> remove;
    for (unsigned long i = 0; i < item.card(); ++i) {
      DcmElement* element = item.getElement(i);
      const DcmTagKey key = element->getTag().getXTag();
      const std::string here =
          path + fmt::format("({:04X},{:04X})", key.getGroup(), key.getElement());
      if (key.getGroup() & 1) {
        if (!KeepPrivate(item, key)) {
          remove.push_back(element);
          Note(here, "", "private");
        }
        continue;
      }
      const DeidRule* rule = FindDeidRule(key.getGroup(), key.getElement());
      if (!rule) {
        Recurse(element, here, depth);
        continue;
      }
      if (element->ident() == EVR_UN) {
        // Sent as UN (unknown VR): read it with its real VR so that its value can be
        // replaced; what cannot be read that way is removed.
        element = Reinterpret(item, element, *rule);
        if (!element) {
          Note(here, rule->keyword, "X");
          continue;
        }
      }
      const std::string action = Resolve(*rule, element, depth);
      Apply(element, *rule, action, here, depth, remove);
    }
    for (DcmElement* element : remove) delete item.remove(element);
  }

  bool dates_shifted = false, dates_kept = false;

 private:
  void AddTokens(const std::string& text) {
    std::istringstream words(text);
    std::string word;
    while (words >> word)
      if (word.size() >= 3) tokens_.push_back(Lower(word));
  }

  bool KeepPrivate(DcmItem& item, const DcmTagKey& key) { return KeepsPrivate(options_, item, key); }

  // A UN element as the VR its dictionary entry (or its keyword) gives, replacing it in
  // `item`; null (and removed) when that VR is not text.
  DcmElement* Reinterpret(DcmItem& item, DcmElement* element, const DeidRule& rule) {
    const DcmTagKey key = element->getTag().getXTag();
    DcmEVR vr = DcmTag(key).getEVR();
    if (vr == EVR_UN || vr == EVR_UNKNOWN || vr == EVR_UNKNOWN2B) vr = VrFromKeyword(rule.keyword);
    Uint8* raw = nullptr;
    const bool text = vr == EVR_UI || vr == EVR_DA || vr == EVR_DT || vr == EVR_TM || vr == EVR_CS || vr == EVR_AS ||
                      vr == EVR_IS || vr == EVR_DS || vr == EVR_AE || IsText(vr);
    if (!text || element->getUint8Array(raw).bad()) {
      delete item.remove(element);
      return nullptr;
    }
    std::string value(reinterpret_cast<const char*>(raw), element->getLength());
    while (!value.empty() && (value.back() == '\0' || value.back() == ' ')) value.pop_back();
    DcmTag tag(key, DcmVR(vr));
    DcmElement* typed = nullptr;
    if (DcmItem::newDicomElement(typed, tag).bad() || !typed) {
      delete item.remove(element);
      return nullptr;
    }
    typed->putString(value.c_str());
    item.insert(typed, true);  // replaces (and deletes) the UN element
    return typed;
  }

  void Recurse(DcmElement* element, const std::string& here, int depth) {
    if (element->ident() != EVR_SQ) return;
    auto* sequence = static_cast<DcmSequenceOfItems*>(element);
    for (unsigned long j = 0; j < sequence->card(); ++j)
      Walk(*sequence->getItem(j), here + fmt::format("[{}]/", j), depth + 1);
  }

  std::string Resolve(const DeidRule& rule, DcmElement* element, int depth) {
    return ResolveAction(rule, options_, element, depth);
  }

  void Apply(DcmElement* element, const DeidRule& rule, const std::string& action, const std::string& here, int depth,
             std::vector<DcmElement*>& remove) {
    const DcmEVR vr = element->ident();
    const DcmTagKey key = element->getTag().getXTag();
    // The patient's name and ID become the pseudonym (a dummy the clinic can map back).
    if ((key == DCM_PatientName || key == DCM_PatientID) && action != "K") {
      element->putString(out_.pseudonym.c_str());
      Note(here, rule.keyword, "D");
      return;
    }
    if (action == "X") {
      remove.push_back(element);
      Note(here, rule.keyword, "X");
    } else if (action == "Z" || (action == "D" && vr == EVR_SQ)) {
      if (vr == EVR_SQ) static_cast<DcmSequenceOfItems*>(element)->clear();
      else element->clear();
      Note(here, rule.keyword, "Z");
    } else if (action == "D") {
      if (vr == EVR_UI) {
        RemapUids(element);
      } else if (vr == EVR_DA || vr == EVR_DT) {
        element->putString(DummyFor(vr).c_str());
      } else if (vr == EVR_OB || vr == EVR_OW || vr == EVR_UN) {
        const Uint8 zeros[2] = {0, 0};
        element->putUint8Array(zeros, 2);
      } else if (vr == EVR_US || vr == EVR_SS || vr == EVR_UL || vr == EVR_SL || vr == EVR_FL || vr == EVR_FD) {
        element->putString("0");
      } else {
        element->putString(DummyFor(vr).c_str());
      }
      Note(here, rule.keyword, "D");
    } else if (action == "U") {
      if (!options_.retain_uids && vr != EVR_SQ) {
        RemapUids(element);
        Note(here, rule.keyword, "U");
      }
    } else if (action == "C") {
      Clean(element, here, rule.keyword, depth);
    } else {  // K
      Recurse(element, here, depth);
    }
  }

  void RemapUids(DcmElement* element) {
    OFString all;
    if (element->getOFStringArray(all).bad() || all.empty()) return;
    std::string result;
    std::string values(all.c_str());
    size_t start = 0;
    while (true) {
      size_t slash = values.find('\\', start);
      std::string uid = values.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      if (!result.empty() || start > 0) result += '\\';
      if (!uid.empty()) {
        auto [it, inserted] = out_.uid_map.emplace(uid, "");
        if (inserted) it->second = RemapUid(secret_, uid);
        result += it->second;
      }
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    element->putString(result.c_str());
  }

  void Clean(DcmElement* element, const std::string& here, const std::string& keyword, int depth) {
    const DcmEVR vr = element->ident();
    if (vr == EVR_SQ) {
      Recurse(element, here, depth);
      return;
    }
    OFString value;
    if (element->getOFStringArray(value).bad() || value.empty()) return;
    std::string text(value.c_str());
    if (vr == EVR_DA || vr == EVR_DT) {
      if (options_.retain_long_modified_dates) {
        std::string shifted;
        size_t start = 0;
        while (true) {
          size_t slash = text.find('\\', start);
          if (start > 0) shifted += '\\';
          shifted += ShiftDate(text.substr(start, slash == std::string::npos ? std::string::npos : slash - start),
                               shift_days_);
          if (slash == std::string::npos) break;
          start = slash + 1;
        }
        element->putString(shifted.c_str());
        dates_shifted = true;
        Note(here, keyword, "C");
      }
      return;
    }
    if (vr == EVR_TM) return;  // a time of day alone identifies no one once dates move
    if (!IsText(vr)) return;
    std::string lower = Lower(text);
    bool changed = false;
    for (const auto& token : tokens_) {
      size_t at = 0;
      while ((at = lower.find(token, at)) != std::string::npos) {
        text.replace(at, token.size(), std::string(token.size(), '*'));
        lower.replace(at, token.size(), std::string(token.size(), '*'));
        changed = true;
        at += token.size();
      }
    }
    if (changed) {
      element->putString(text.c_str());
      Note(here, keyword, "C");
    }
  }

  void Note(const std::string& tag, const std::string& keyword, const std::string& action) {
    out_.changes.push_back({tag, keyword, action});
  }

  const DeidOptions& options_;
  const crypto::SecretKey& secret_;
  DeidResult& out_;
  std::int64_t shift_days_ = 0;
  std::vector<std::string> tokens_;
};

const std::vector<SafePrivate>& SafePrivates() {
  // PS3.15 Table E.3.10-1, compiled in from deid_safe_private.tsv.
  static const std::vector<SafePrivate> k = [] {
    std::vector<SafePrivate> out;
    std::istringstream in(kSafePrivateTsv);
    std::string line;
    bool header = true;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      if (header) {
        header = false;
        continue;
      }
      auto fields = SplitTabs(line);
      if (fields.size() < 2 || fields[1].size() != 8) continue;
      std::uint32_t tag = 0, mask = 0;
      if (!ParseTagPattern(fields[1], tag, mask)) continue;
      out.push_back({fields[0], static_cast<std::uint16_t>(tag >> 16), static_cast<std::uint8_t>(tag & 0xFF)});
    }
    return out;
  }();
  return k;
}

// "(gggg,eeee)" of a tag key.
std::string CodeMeaningOf(const std::string& code) {
  static const std::map<std::string, std::string> k = {
      {"113100", "Basic Application Confidentiality Profile"},
      {"113105", "Clean Descriptors Option"},
      {"113106", "Retain Longitudinal Temporal Information Full Dates Option"},
      {"113107", "Retain Longitudinal Temporal Information Modified Dates Option"},
      {"113108", "Retain Patient Characteristics Option"},
      {"113109", "Retain Device Identity Option"},
      {"113110", "Retain UIDs Option"},
      {"113111", "Retain Safe Private Option"},
      {"113112", "Retain Institution Identity Option"},
  };
  auto it = k.find(code);
  return it == k.end() ? "" : it->second;
}

std::vector<std::string> MethodCodes(const DeidOptions& o) {
  std::vector<std::string> codes = {"113100"};
  if (o.clean_descriptors) codes.push_back("113105");
  if (o.retain_long_full_dates) codes.push_back("113106");
  if (o.retain_long_modified_dates) codes.push_back("113107");
  if (o.retain_patient_chars) codes.push_back("113108");
  if (o.retain_device_id) codes.push_back("113109");
  if (o.retain_uids) codes.push_back("113110");
  if (o.retain_safe_private) codes.push_back("113111");
  if (o.retain_institution_id) codes.push_back("113112");
  return codes;
}


// What a trusted de-identifier left that the clinic's profile would not have: the keywords
// of identifying attributes present with a value (at most `limit`). The patient's name and
// ID may hold a pseudonym in the form voxelgate's gateway writes ("VG" and 14 characters
// of Base32's alphabet). Dates a profile option keeps or shifts, UIDs (their remapping cannot be
// seen in the value) and free text the profile cleans are not judged.
class ResidualFinder {
 public:
  ResidualFinder(const DeidOptions& options, size_t limit) : options_(options), limit_(limit) {}

  void Walk(DcmItem& item, int depth) {
    for (unsigned long i = 0; i < item.card() && found.size() < limit_; ++i) {
      DcmElement* element = item.getElement(i);
      const DcmTagKey key = element->getTag().getXTag();
      if (key.getGroup() & 1) {
        if (!KeepsPrivate(options_, item, key) && element->getLength() > 0) Add("private attributes");
        continue;
      }
      const DeidRule* rule = FindDeidRule(key.getGroup(), key.getElement());
      if (!rule) {
        Recurse(element, depth);
        continue;
      }
      const std::string action = ResolveAction(*rule, options_, element, depth);
      const std::string keyword = rule->keyword.empty() ? rule->name : rule->keyword;
      if ((key == DCM_PatientName || key == DCM_PatientID) && action != "K") {
        const std::string value = Value(element);
        if (!value.empty() && !IsPseudonym(value)) Add(keyword);
        continue;
      }
      if (element->ident() == EVR_SQ) {
        auto* sequence = static_cast<DcmSequenceOfItems*>(element);
        if ((action == "X" || action == "Z" || action == "D") && sequence->card() > 0) Add(keyword);
        else Recurse(element, depth);
        continue;
      }
      if (action == "X" || action == "Z") {
        if (element->getLength() > 0 && !Value(element).empty()) Add(keyword);
      } else if (action == "D" && element->ident() != EVR_UI) {
        const std::string value = Value(element);
        if (!value.empty() && value != DummyFor(element->ident()) && value != "0") Add(keyword);
      }
    }
  }

  std::vector<std::string> found;

 private:
  static std::string Value(DcmElement* element) {
    OFString all;
    if (element->getOFStringArray(all).bad()) return element->getLength() > 0 ? "?" : "";
    std::string value(all.c_str());
    while (!value.empty() && (value.back() == ' ' || value.back() == '\\' || value.back() == '\0')) value.pop_back();
    return value;
  }
  static bool IsPseudonym(const std::string& value) {
    if (value.size() != 16 || !value.starts_with("VG")) return false;
    return std::all_of(value.begin() + 2, value.end(),
                       [](char c) { return kBase32Alphabet.find(c) != std::string_view::npos; });
  }
  void Recurse(DcmElement* element, int depth) {
    if (element->ident() != EVR_SQ || depth >= 64) return;
    auto* sequence = static_cast<DcmSequenceOfItems*>(element);
    for (unsigned long j = 0; j < sequence->card(); ++j) Walk(*sequence->getItem(j), depth + 1);
  }
  void Add(const std::string& keyword) {
    if (std::find(found.begin(), found.end(), keyword) == found.end()) found.push_back(keyword);
  }

  const DeidOptions& options_;
  size_t limit_;
};

}  // namespace

// ---- public ----

std::string DeidOptions::Name() const {
  std::string name = "basic";
  if (retain_long_full_dates) name += "+retain-long-full-dates";
  if (retain_long_modified_dates) name += "+retain-long-modified-dates";
  if (retain_patient_chars) name += "+retain-patient-chars";
  if (retain_device_id) name += "+retain-device-id";
  if (retain_institution_id) name += "+retain-institution-id";
  if (retain_safe_private) name += "+retain-safe-private";
  if (retain_uids) name += "+retain-uids";
  if (clean_descriptors) name += "+clean-descriptors";
  return name;
}

Result<DeidOptions> ParseDeidProfile(std::string_view text) {
  DeidOptions options;
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t plus = text.find('+', start);
    parts.emplace_back(text.substr(start, plus == std::string_view::npos ? std::string_view::npos : plus - start));
    if (plus == std::string_view::npos) break;
    start = plus + 1;
  }
  if (parts.empty() || parts[0] != "basic")
    return Fail(ErrorCode::kInvalidArgument, "a de-identification profile is 'basic' followed by +options");
  for (size_t i = 1; i < parts.size(); ++i) {
    std::string p = parts[i];
    std::replace(p.begin(), p.end(), '_', '-');
    bool* flag = p == "retain-long-full-dates"       ? &options.retain_long_full_dates
                 : p == "retain-long-modified-dates" ? &options.retain_long_modified_dates
                 : p == "retain-patient-chars"       ? &options.retain_patient_chars
                 : p == "retain-device-id"           ? &options.retain_device_id
                 : p == "retain-institution-id"      ? &options.retain_institution_id
                 : p == "retain-safe-private"        ? &options.retain_safe_private
                 : p == "retain-uids"                ? &options.retain_uids
                 : p == "clean-descriptors"          ? &options.clean_descriptors
                                                     : nullptr;
    if (!flag)
      return Fail(ErrorCode::kInvalidArgument,
                  "unknown de-identification option '" + parts[i] +
                      "' (retain-long-full-dates, retain-long-modified-dates, retain-patient-chars, retain-device-id, "
                      "retain-institution-id, retain-safe-private, retain-uids, clean-descriptors)");
    *flag = true;
  }
  if (options.retain_long_full_dates && options.retain_long_modified_dates)
    return Fail(ErrorCode::kInvalidArgument, "dates are either kept in full or shifted, not both");
  return options;
}

const std::vector<DeidRule>& DeidRules() {
  static const std::vector<DeidRule> rules = ParseTable();
  return rules;
}

const DeidRule* FindDeidRule(std::uint16_t group, std::uint16_t element) {
  // Every element of every instance asks: exact tags by hash, the few repeating groups by scan.
  struct Index {
    std::unordered_map<std::uint32_t, const DeidRule*> exact;
    std::vector<const DeidRule*> patterns;
  };
  static const Index index = [] {
    Index i;
    for (const auto& rule : DeidRules()) {
      if (rule.mask == 0xFFFFFFFF) i.exact.emplace(rule.tag, &rule);
      else i.patterns.push_back(&rule);
    }
    return i;
  }();
  const std::uint32_t tag = (static_cast<std::uint32_t>(group) << 16) | element;
  if (auto it = index.exact.find(tag); it != index.exact.end()) return it->second;
  for (const DeidRule* rule : index.patterns)
    if ((tag & rule->mask) == rule->tag) return rule;
  return nullptr;
}


std::string EffectiveAction(const DeidRule& rule, const DeidOptions& o) {
  std::vector<std::string> given;
  auto consider = [&](bool on, const std::string& action) {
    if (on && !action.empty()) given.push_back(action);
  };
  consider(o.retain_safe_private, rule.rtn_safe_priv);
  consider(o.retain_uids, rule.rtn_uids);
  consider(o.retain_device_id, rule.rtn_dev_id);
  consider(o.retain_institution_id, rule.rtn_inst_id);
  consider(o.retain_patient_chars, rule.rtn_pat_chars);
  consider(o.retain_long_full_dates, rule.rtn_long_full_dates);
  consider(o.retain_long_modified_dates, rule.rtn_long_modif_dates);
  consider(o.clean_descriptors, rule.clean_desc);
  if (given.empty()) return rule.basic;
  for (const char* preferred : {"K", "C"})
    if (std::find(given.begin(), given.end(), preferred) != given.end()) return preferred;
  return given.front();
}

std::string PseudonymOf(const crypto::SecretKey& secret, std::string_view patient_id, std::string_view issuer) {
  const std::string digest = Keyed(secret, "voxelgate pseudonym", patient_id, issuer);
  return "VG" + Base32(std::span(reinterpret_cast<const std::uint8_t*>(digest.data()), digest.size()), 14);
}

std::string RemapUid(const crypto::SecretKey& secret, std::string_view uid) {
  const std::string digest = Keyed(secret, "voxelgate uid", uid);
  return UidFromBits(std::span(reinterpret_cast<const std::uint8_t*>(digest.data()), digest.size()));
}

std::int64_t DateShiftDays(const crypto::SecretKey& secret, std::string_view patient_id, std::string_view issuer) {
  const std::string digest = Keyed(secret, "voxelgate date shift", patient_id, issuer);
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(digest[i]);
  return -(365 + static_cast<std::int64_t>(v % (3650 - 365)));
}

std::string ShiftDate(std::string_view value, std::int64_t days) {
  if (value.size() < 8) return std::string(value);
  for (int i = 0; i < 8; ++i)
    if (!std::isdigit(static_cast<unsigned char>(value[i]))) return std::string(value);
  using namespace std::chrono;
  const int y = std::stoi(std::string(value.substr(0, 4)));
  const unsigned m = static_cast<unsigned>(std::stoi(std::string(value.substr(4, 2))));
  const unsigned d = static_cast<unsigned>(std::stoi(std::string(value.substr(6, 2))));
  year_month_day ymd{year{y}, month{m}, day{d}};
  if (!ymd.ok()) return std::string(value);
  year_month_day shifted{sys_days{ymd} + std::chrono::days{days}};
  return fmt::format("{:04d}{:02d}{:02d}", static_cast<int>(shifted.year()), static_cast<unsigned>(shifted.month()),
                     static_cast<unsigned>(shifted.day())) +
         std::string(value.substr(8));
}

namespace {

Result<DeidResult> DeidentifyLoaded(LoadedFile& loaded, const DeidOptions& options, const crypto::SecretKey& secret) {
  DcmDataset& ds = *loaded.dataset;
  DeidResult out;
  out.original_study_uid = GetString(ds, DCM_StudyInstanceUID);
  out.original_series_uid = GetString(ds, DCM_SeriesInstanceUID);
  out.original_sop_uid = GetString(ds, DCM_SOPInstanceUID);
  Walker walker(options, secret, out);
  walker.Prepare(ds);
  walker.Walk(ds, "", 0);

  ds.putAndInsertString(DCM_PatientIdentityRemoved, "YES");
  // LO holds 64 characters a value: a long option list goes on in further values, split
  // between options.
  std::string values = "PS3.15 E.1 basic", current = values;
  const std::string options_text = options.Name().substr(5);
  for (size_t start = 0; start < options_text.size();) {
    size_t next = options_text.find('+', start + 1);
    std::string option = options_text.substr(start, next == std::string::npos ? std::string::npos : next - start);
    if (current.size() + option.size() > 64) {
      values += "\\";
      current.clear();
    }
    values += option;
    current += option;
    start = next == std::string::npos ? options_text.size() : next;
  }
  ds.putAndInsertString(DCM_DeidentificationMethod, values.c_str());
  ds.findAndDeleteElement(DCM_DeidentificationMethodCodeSequence);
  for (const auto& code : MethodCodes(options)) {
    DcmItem* item = nullptr;
    if (ds.findOrCreateSequenceItem(DCM_DeidentificationMethodCodeSequence, item, -2).good() && item) {
      item->putAndInsertString(DCM_CodeValue, code.c_str());
      item->putAndInsertString(DCM_CodingSchemeDesignator, "DCM");
      item->putAndInsertString(DCM_CodeMeaning, CodeMeaningOf(code).c_str());
    }
  }
  ds.putAndInsertString(DCM_LongitudinalTemporalInformationModified,
                        options.retain_long_full_dates       ? "UNMODIFIED"
                        : options.retain_long_modified_dates ? "MODIFIED"
                                                             : "REMOVED");
  // The meta header is rewritten from the dataset; the sender's AE title goes.
  loaded.file->getMetaInfo()->findAndDeleteElement(DCM_SourceApplicationEntityTitle);
  loaded.file->getMetaInfo()->findAndDeleteElement(DCM_SendingApplicationEntityTitle);
  loaded.file->getMetaInfo()->findAndDeleteElement(DCM_ReceivingApplicationEntityTitle);
  out.study_uid = GetString(ds, DCM_StudyInstanceUID);
  out.series_uid = GetString(ds, DCM_SeriesInstanceUID);
  out.sop_uid = GetString(ds, DCM_SOPInstanceUID);
  auto written = WriteFileToString(*loaded.file, loaded.xfer);
  if (!written) return std::unexpected(written.error());
  out.part10 = std::move(*written);
  return out;
}

// The file says it was de-identified by this profile already (PatientIdentityRemoved YES and
// a DeidentificationMethod of ours): doing it twice would remap its UIDs again and break what
// references them (a gateway's reverse mapping, a SEG's sources).
bool MarkedDeidentified(DcmDataset& ds) {
  return GetString(ds, DCM_PatientIdentityRemoved) == "YES" &&
         GetString(ds, DCM_DeidentificationMethod).starts_with("PS3.15 E.1 ");
}

std::optional<std::string> Screen(DcmDataset& ds, const DeidScreen& screen) {
  const std::string modality = GetString(ds, DCM_Modality);
  for (const auto& m : screen.reject_modalities)
    if (!m.empty() && Lower(m) == Lower(modality))
      return "this clinic does not accept " + modality +
             " images: they often carry patient data burned into the pixels, which de-identification cannot remove";
  const std::string description = Lower(GetString(ds, DCM_SeriesDescription) + " " + GetString(ds, DCM_ImageType));
  for (const auto& phrase : screen.reject_descriptions)
    if (!phrase.empty() && description.find(Lower(phrase)) != std::string::npos)
      return "the series description matches '" + phrase +
             "', which this clinic refuses: such series carry text in their pixels";
  if (screen.refuse_burned_in_annotation && Lower(GetString(ds, DCM_BurnedInAnnotation)) == "yes")
    return "the image says it has burned-in annotation (BurnedInAnnotation YES), which de-identification cannot remove";
  return std::nullopt;
}

}  // namespace

Result<DeidResult> Deidentify(std::string_view part10, const DeidOptions& options, const crypto::SecretKey& secret) {
  auto loaded = LoadFromMemory(part10);
  if (!loaded) return std::unexpected(loaded.error());
  return DeidentifyLoaded(*loaded, options, secret);
}

namespace {
std::vector<std::string> ResidualIn(DcmDataset& ds, const DeidOptions& profile, size_t limit) {
  ResidualFinder finder(profile, limit);
  finder.Walk(ds, 0);
  return finder.found;
}
}  // namespace

Result<std::vector<std::string>> ResidualIdentifiers(std::string_view part10, const DeidOptions& profile, size_t limit) {
  auto loaded = LoadFromMemory(part10);
  if (!loaded) return std::unexpected(loaded.error());
  return ResidualIn(*loaded->dataset, profile, limit);
}

Result<PrivacyOutcome> ApplyPrivacy(std::string_view part10, const std::optional<DeidOptions>& profile,
                                    const crypto::SecretKey& secret, const DeidScreen& screen,
                                    bool from_trusted_deidentifier) {
  auto loaded = LoadFromMemory(part10);
  if (!loaded) return std::unexpected(loaded.error());
  PrivacyOutcome out;
  if ((out.refused = Screen(*loaded->dataset, screen))) return out;
  // The instance's own claim to be de-identified counts only from the sender the clinic
  // trusts to de-identify, and even then what it left is checked.
  if (profile && from_trusted_deidentifier && MarkedDeidentified(*loaded->dataset)) {
    auto residual = ResidualIn(*loaded->dataset, *profile, 64);
    if (!residual.empty()) {
      // The patient's own identifiers first: they are what the sender must see named.
      std::stable_partition(residual.begin(), residual.end(),
                            [](const std::string& k) { return k.starts_with("Patient") || k.starts_with("OtherPatient"); });
      std::string names;
      for (size_t i = 0; i < residual.size() && i < 6; ++i) names += (names.empty() ? "" : ", ") + residual[i];
      if (residual.size() > 6) names += fmt::format(" and {} more", residual.size() - 6);
      out.refused = "the instance says it is de-identified (PatientIdentityRemoved YES) but still carries " + names +
                    ", which the clinic's profile removes";
    }
    return out;
  }
  if (profile) {
    auto result = DeidentifyLoaded(*loaded, *profile, secret);
    if (!result) return std::unexpected(result.error());
    out.deidentified = std::move(*result);
  }
  return out;
}

Result<PatientStudyIdentity> ReadIdentity(std::string_view part10) {
  auto loaded = LoadFromMemory(part10);
  if (!loaded) return std::unexpected(loaded.error());
  DcmDataset& ds = *loaded->dataset;
  PatientStudyIdentity id;
  id.patient_name = GetString(ds, DCM_PatientName);
  id.patient_id = GetString(ds, DCM_PatientID);
  id.issuer_of_patient_id = GetString(ds, DCM_IssuerOfPatientID);
  id.patient_birth_date = GetString(ds, DCM_PatientBirthDate);
  id.patient_sex = GetString(ds, DCM_PatientSex);
  id.study_date = GetString(ds, DCM_StudyDate);
  id.study_time = GetString(ds, DCM_StudyTime);
  id.accession_number = GetString(ds, DCM_AccessionNumber);
  id.study_id = GetString(ds, DCM_StudyID);
  id.referring_physician_name = GetString(ds, DCM_ReferringPhysicianName);
  id.study_description = GetString(ds, DCM_StudyDescription);
  return id;
}

namespace {

void RestoreUids(DcmItem& item, const std::function<std::optional<std::string>(const std::string&)>& original_uid) {
  for (unsigned long i = 0; i < item.card(); ++i) {
    DcmElement* element = item.getElement(i);
    if (element->ident() == EVR_SQ) {
      auto* sequence = static_cast<DcmSequenceOfItems*>(element);
      for (unsigned long j = 0; j < sequence->card(); ++j) RestoreUids(*sequence->getItem(j), original_uid);
      continue;
    }
    if (element->ident() != EVR_UI) continue;
    OFString all;
    if (element->getOFStringArray(all).bad() || all.empty()) continue;
    std::string values(all.c_str()), restored;
    bool changed = false;
    size_t start = 0;
    while (true) {
      size_t slash = values.find('\\', start);
      std::string uid = values.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      if (start > 0) restored += '\\';
      if (auto original = original_uid(uid)) {
        restored += *original;
        changed = true;
      } else {
        restored += uid;
      }
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    if (changed) element->putString(restored.c_str());
  }
}

}  // namespace

Result<std::string> Reidentify(std::string_view part10,
                               const std::function<std::optional<std::string>(const std::string&)>& original_uid,
                               const PatientStudyIdentity& id) {
  auto loaded = LoadFromMemory(part10);
  if (!loaded) return std::unexpected(loaded.error());
  DcmDataset& ds = *loaded->dataset;
  RestoreUids(ds, original_uid);
  auto put = [&](const DcmTagKey& tag, const std::string& value) {
    if (value.empty()) ds.findAndDeleteElement(tag);
    else ds.putAndInsertString(tag, value.c_str());
  };
  ds.putAndInsertString(DCM_PatientName, id.patient_name.c_str());
  ds.putAndInsertString(DCM_PatientID, id.patient_id.c_str());
  put(DCM_IssuerOfPatientID, id.issuer_of_patient_id);
  ds.putAndInsertString(DCM_PatientBirthDate, id.patient_birth_date.c_str());
  ds.putAndInsertString(DCM_PatientSex, id.patient_sex.c_str());
  ds.putAndInsertString(DCM_StudyDate, id.study_date.c_str());
  ds.putAndInsertString(DCM_StudyTime, id.study_time.c_str());
  ds.putAndInsertString(DCM_AccessionNumber, id.accession_number.c_str());
  ds.putAndInsertString(DCM_StudyID, id.study_id.c_str());
  ds.putAndInsertString(DCM_ReferringPhysicianName, id.referring_physician_name.c_str());
  put(DCM_StudyDescription, id.study_description);
  ds.putAndInsertString(DCM_PatientIdentityRemoved, "NO");
  ds.findAndDeleteElement(DCM_DeidentificationMethod);
  ds.findAndDeleteElement(DCM_DeidentificationMethodCodeSequence);
  ds.findAndDeleteElement(DCM_LongitudinalTemporalInformationModified);
  return WriteFileToString(*loaded->file, loaded->xfer);
}

std::optional<std::string> ScreenForBurnedInText(std::string_view part10, const DeidScreen& screen) {
  auto loaded = LoadFromMemory(part10);
  if (!loaded) return std::nullopt;  // the parser reports it
  return Screen(*loaded->dataset, screen);
}

}  // namespace vg::dicom
