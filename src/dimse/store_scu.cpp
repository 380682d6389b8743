#include "dimse/store_scu.h"

#include <dcmtk/dcmnet/scu.h>

#include <map>
#include <memory>
#include <set>

#include "dicom/dcmtk_io.h"

namespace vg::dimse {
namespace {

OFList<OFString> Syntaxes(const std::string& syntax) {
  OFList<OFString> list;
  list.push_back(syntax.c_str());
  return list;
}

}  // namespace

Result<std::vector<StoreOutcomeScu>> SendInstances(const StoreTarget& target, const std::vector<std::string>& files) {
  std::vector<dicom::LoadedFile> loaded;
  std::vector<StoreOutcomeScu> outcomes(files.size());
  std::map<std::string, std::set<std::string>> contexts;  // SOP class -> transfer syntaxes
  for (size_t i = 0; i < files.size(); ++i) {
    auto file = dicom::LoadFromMemory(files[i]);
    if (!file) {
      loaded.emplace_back();
      outcomes[i].message = file.error().public_message;
      continue;
    }
    const std::string sop_class = dicom::GetString(*file->dataset, DCM_SOPClassUID);
    contexts[sop_class].insert(file->transfer_syntax_uid);
    loaded.push_back(std::move(*file));
  }
  DcmSCU scu;
  scu.setAETitle(target.calling_ae.c_str());
  scu.setPeerAETitle(target.called_ae.c_str());
  scu.setPeerHostName(target.host.c_str());
  scu.setPeerPort(target.port);
  scu.setMaxReceivePDULength(128 * 1024);
  scu.setACSETimeout(static_cast<Uint32>(target.timeout_s));
  scu.setDIMSETimeout(static_cast<Uint32>(target.timeout_s));
  scu.setConnectionTimeout(target.timeout_s);
  for (const auto& [sop_class, syntaxes] : contexts) {
    // One context per syntax, so that each file goes in the syntax it is encoded in.
    for (const auto& syntax : syntaxes) scu.addPresentationContext(sop_class.c_str(), Syntaxes(syntax));
    if (!syntaxes.count(UID_LittleEndianExplicitTransferSyntax))
      scu.addPresentationContext(sop_class.c_str(), Syntaxes(UID_LittleEndianExplicitTransferSyntax));
  }
  if (contexts.empty()) return outcomes;
  if (OFCondition c = scu.initNetwork(); c.bad())
    return Fail(ErrorCode::kUnavailable, "cannot start the DICOM network", c.text());
  if (OFCondition c = scu.negotiateAssociation(); c.bad())
    return Fail(ErrorCode::kUnavailable, target.called_ae + " at " + target.host + ":" + std::to_string(target.port) +
                                             " did not accept the association: " + c.text());
  for (size_t i = 0; i < files.size(); ++i) {
    if (!loaded[i].dataset) continue;
    const std::string sop_class = dicom::GetString(*loaded[i].dataset, DCM_SOPClassUID);
    T_ASC_PresentationContextID pc = scu.findPresentationContextID(sop_class.c_str(), loaded[i].transfer_syntax_uid.c_str());
    if (pc == 0) {
      outcomes[i].message = "the node accepted no presentation context for this object";
      continue;
    }
    Uint16 status = 0xFFFF;
    OFCondition c = scu.sendSTORERequest(pc, "", loaded[i].dataset, status);
    if (c.bad()) {
      outcomes[i].message = std::string("the C-STORE failed: ") + c.text();
      if (!scu.isConnected()) break;
      continue;
    }
    outcomes[i].status = status;
    if (!outcomes[i].Ok()) outcomes[i].message = "the node answered status 0x" + [&] {
      char hex[8];
      std::snprintf(hex, sizeof hex, "%04X", status);
      return std::string(hex);
    }();
  }
  if (scu.isConnected()) scu.releaseAssociation();
  return outcomes;
}

}  // namespace vg::dimse
