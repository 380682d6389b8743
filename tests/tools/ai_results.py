#!/usr/bin/python3
"""What a test needs to know of an AI result object, read with pydicom (independent of
voxelgate's own DCMTK reader): `ai_results.py FILE` prints JSON with the SOP class, the
patient and study, the Contributing Equipment, and for a TID 1500 SR every numeric
measurement with its group's tracking identifier and referenced segment and SEG.
"""

import json
import sys

import pydicom


def code(item, keyword):
    seq = getattr(item, keyword, None)
    if not seq:
        return None
    c = seq[0]
    return {"code": str(c.get("CodeValue", "")), "scheme": str(c.get("CodingSchemeDesignator", "")),
            "meaning": str(c.get("CodeMeaning", ""))}


def measurements(node, out, depth=0):
    if depth > 16:
        return
    children = getattr(node, "ContentSequence", []) or []
    name = code(node, "ConceptNameCodeSequence")
    if getattr(node, "ValueType", "") == "CONTAINER" and name and name["code"] == "125007":
        tracking, segment, seg_uid = None, None, None
        for child in children:
            c = code(child, "ConceptNameCodeSequence") or {}
            if child.ValueType == "TEXT" and c.get("code") == "112039":
                tracking = str(child.TextValue)
            if child.ValueType == "IMAGE" and c.get("code") == "121191":
                ref = child.ReferencedSOPSequence[0]
                seg_uid = str(ref.ReferencedSOPInstanceUID)
                segment = int(ref.ReferencedSegmentNumber[0] if isinstance(ref.ReferencedSegmentNumber, pydicom.multival.MultiValue)
                              else ref.ReferencedSegmentNumber)
        for child in children:
            if child.ValueType == "NUM" and getattr(child, "MeasuredValueSequence", None):
                mv = child.MeasuredValueSequence[0]
                out.append({"tracking_id": tracking, "segment": segment, "seg_sop_uid": seg_uid,
                            "quantity": code(child, "ConceptNameCodeSequence"),
                            "unit": code(mv, "MeasurementUnitsCodeSequence"), "value": float(mv.NumericValue)})
        return
    for child in children:
        measurements(child, out, depth + 1)


def main():
    ds = pydicom.dcmread(sys.argv[1])
    equipment = []
    for item in getattr(ds, "ContributingEquipmentSequence", []) or []:
        equipment.append({"manufacturer": str(item.get("Manufacturer", "")),
                          "model": str(item.get("ManufacturerModelName", "")),
                          "software_versions": str(item.get("SoftwareVersions", "")),
                          "purpose": code(item, "PurposeOfReferenceCodeSequence")})
    out = {"sop_class": str(ds.SOPClassUID), "sop_uid": str(ds.SOPInstanceUID), "modality": str(ds.Modality),
           "study_uid": str(ds.StudyInstanceUID), "patient_id": str(ds.get("PatientID", "")),
           "contributing_equipment": equipment, "measurements": []}
    if ds.Modality == "SR":
        measurements(ds, out["measurements"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
