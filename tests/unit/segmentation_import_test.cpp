// Imported segmentations: label layers for overlapping segments, their NIfTI, and the
// importer over the real catalog and encrypted store (no HTTP): SEG and RTSTRUCT objects
// become versions, wait for a missing source, never cross clinics, and voxelgate's own
// objects are never imported.
#include <dcmtk/dcmdata/dctk.h>
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "auth/tenants.h"
#include "dicom/dcmtk_io.h"
#include "dicom/dicom.h"
#include "dicom/nifti.h"
#include "dicom/rtstruct.h"
#include "dicom/seg.h"
#include "services/ingest.h"
#include "services/segmentation_import.h"
#include "storage/encrypting_blob_store.h"
#include "storage/folder_blob_store.h"
#include "storage/sql_catalog.h"
#include "storage/sql_db.h"
#include "synthetic_dicom.h"
#include "core/clock.h"

namespace vg::services::segmentation_import_test {
namespace {

namespace fs = std::filesystem;

dicom::VolumeGeometry Grid(std::int64_t x, std::int64_t y, std::int64_t z) {
  dicom::VolumeGeometry g;
  g.dims = {x, y, z};
  g.spacing = {0.75, 0.5, 2.0};
  g.direction = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  return g;
}

TEST(LabelLayers, SegmentsThatOverlapGoToLaterLayersAndEachKeepsAllItsVoxels) {
  const auto g = Grid(4, 3, 2);
  dicom::SegMasks masks;
  const auto n = static_cast<std::size_t>(g.VoxelCount());
  for (int s : {1, 2, 3}) masks.masks[s].assign(n, 0);
  for (std::size_t i = 0; i < 10; ++i) masks.masks[1][i] = 1;
  for (std::size_t i = 5; i < 15; ++i) masks.masks[2][i] = 1;   // overlaps 1
  for (std::size_t i = 20; i < 24; ++i) masks.masks[3][i] = 1;  // overlaps nothing
  auto layering = dicom::LayerMasks(masks, g);
  ASSERT_TRUE(layering);
  auto& layered = *layering;
  ASSERT_EQ(layered.layers.size(), 2u);
  EXPECT_EQ(layered.layer_of, (std::map<int, int>{{1, 0}, {2, 1}, {3, 0}}));
  for (int s : {1, 2, 3}) {
    const auto& layer = layered.layers[static_cast<std::size_t>(layered.layer_of[s])].labels;
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(layer[i] == s, masks.masks[s][i] == 1) << "segment " << s << " voxel " << i;
  }
  auto flat = dicom::FlattenLayers(layered.layers);
  EXPECT_EQ(flat.labels[7], 2);  // the later layer wins where they overlap
  EXPECT_EQ(flat.labels[2], 1);
  EXPECT_EQ(flat.labels[21], 3);
}

TEST(LabelLayers, SegmentsOverlappingDeeperThanTheLayerLimitAreRefusedWithTheReason) {
  const auto g = Grid(3, 2, 1);
  dicom::SegMasks masks;
  for (int s = 1; s <= dicom::kMaxLabelLayers + 1; ++s) masks.masks[s].assign(6, 1);  // every segment everywhere
  auto layered = dicom::LayerMasks(masks, g);
  ASSERT_FALSE(layered);
  EXPECT_EQ(layered.error().code, ErrorCode::kUnprocessable);
  EXPECT_NE(layered.error().public_message.find("16"), std::string::npos);
  masks.masks.erase(dicom::kMaxLabelLayers + 1);
  auto fits = dicom::LayerMasks(masks, g);
  ASSERT_TRUE(fits);
  EXPECT_EQ(fits->layers.size(), static_cast<std::size_t>(dicom::kMaxLabelLayers));
}

TEST(LabelLayers, LayersRoundTripThroughOneNiftiFileAndOneLayerStaysThreeDimensional) {
  const auto g = Grid(5, 4, 3);
  std::vector<dicom::LabelVolume> layers(2, dicom::LabelVolume{g, std::vector<std::uint8_t>(60, 0)});
  for (std::size_t i = 0; i < 60; ++i) {
    layers[0].labels[i] = static_cast<std::uint8_t>(i % 3);
    layers[1].labels[i] = static_cast<std::uint8_t>(i % 5 == 0 ? 4 : 0);
  }
  auto file = dicom::NiftiGzLayers(layers);
  ASSERT_TRUE(file);
  auto back = dicom::ReadNiftiLayers(*file);
  ASSERT_TRUE(back) << back.error().detail;
  ASSERT_EQ(back->size(), 2u);
  for (int l = 0; l < 2; ++l) {
    EXPECT_EQ((*back)[l].labels, layers[l].labels);
    EXPECT_TRUE((*back)[l].geometry.SameGrid(g));
  }
  // Readers of plain label maps refuse the 4-D file rather than misread it.
  EXPECT_FALSE(dicom::ReadNifti(*file));
  auto single = dicom::NiftiGzLayers({layers[0]});
  ASSERT_TRUE(single);
  ASSERT_TRUE(dicom::ReadNifti(*single));
  EXPECT_EQ(dicom::ReadNiftiLayers(*single)->size(), 1u);
  // More layers than the voxel limit allows: refused.
  EXPECT_EQ(dicom::ReadNiftiLayers(*file, 100).error().code, ErrorCode::kTooLarge);
}

class SegmentationImportTest : public ::testing::Test {
 protected:
  static constexpr const char* kStudy = "1.2.826.0.1.3680043.8.498.77";
  static constexpr const char* kSeries = "1.2.826.0.1.3680043.8.498.77.1";

  void SetUp() override {
    crypto::Initialize();
    dicom::Initialize();
    dir_ = fs::temp_directory_path() / ("vg-import-" + crypto::RandomHexId(6));
    fs::create_directories(dir_);
    catalog_ = std::move(*storage::SqlCatalog::Open((dir_ / "catalog.db").string(), false));
    tenants_ = std::make_unique<auth::TenantDirectory>(*catalog_, crypto::SecretKey::Generate());
    auth::TenantDirectory* tenants = tenants_.get();
    blobs_ = std::make_unique<storage::EncryptingBlobStore>(
        std::move(*storage::FolderBlobStore::Open((dir_ / "blobs").string(), false)),
        [tenants](std::int64_t id) { return tenants->DataKey(id); });
    archive_ = std::make_unique<Archive>(Archive{*catalog_, *blobs_, *tenants_});
    volumes_ = std::make_unique<Volumes>(*archive_);
    segmentations_ = std::make_unique<Segmentations>(*archive_, *catalog_, *volumes_);
    importer_ = std::make_unique<SegmentationImporter>(*archive_, *catalog_, *volumes_, *segmentations_);
    a_ = tenants_->Create("alpha", "")->id;
    b_ = tenants_->Create("beta", "")->id;
    for (int k = 0; k < 6; ++k) {
      testing::SliceSpec s;
      s.study_uid = kStudy;
      s.series_uid = kSeries;
      s.sop_uid = std::string(kSeries) + "." + std::to_string(k + 1);
      s.instance_number = k + 1;
      s.rows = 10;
      s.columns = 12;
      s.position[2] = 2.0 * k;
      series_.push_back(testing::MakeSlice(s, [k](int c, int r) { return 100 + k + c + r; }));
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Store(std::int64_t tenant, const std::vector<std::string>& files) {
    IngestSession session(*archive_, tenant, "", false);
    for (const auto& f : files) session.Add(f);
    for (const auto& o : session.Finish()) ASSERT_TRUE(o.stored) << o.message;
  }
  // Runs the importer as if `seconds` had passed (the quiet period).
  int Import(std::int64_t seconds = 60) {
    auto looked = importer_->RunOnce(UnixSeconds() + seconds);
    EXPECT_TRUE(looked) << looked.error().detail;
    return looked ? *looked : -1;
  }
  // Two boxes that overlap where both are painted, on the series' grid.
  std::map<int, std::vector<std::uint8_t>> Boxes(const dicom::VolumeGeometry& g) {
    std::map<int, std::vector<std::uint8_t>> out;
    out[1].assign(static_cast<std::size_t>(g.VoxelCount()), 0);
    out[2].assign(static_cast<std::size_t>(g.VoxelCount()), 0);
    for (int k = 1; k < 4; ++k)
      for (int j = 2; j < 7; ++j)
        for (int i = 2; i < 8; ++i) out[1][static_cast<std::size_t>((k * g.dims[1] + j) * g.dims[0] + i)] = 1;
    for (int k = 2; k < 5; ++k)
      for (int j = 4; j < 9; ++j)
        for (int i = 5; i < 11; ++i) out[2][static_cast<std::size_t>((k * g.dims[1] + j) * g.dims[0] + i)] = 1;
    return out;
  }
  std::vector<dicom::SegmentInfo> Segments() {
    std::vector<dicom::SegmentInfo> s(2);
    s[0].label = 1;
    s[0].name = "Liver";
    s[0].rgb = {200, 100, 50};
    s[1].label = 2;
    s[1].name = "Tumour";
    return s;
  }
  SeriesVolume Source(std::int64_t tenant) { return std::move(*volumes_->Assemble(tenant, kSeries, true)); }

  fs::path dir_;
  std::unique_ptr<storage::SqlCatalog> catalog_;
  std::unique_ptr<auth::TenantDirectory> tenants_;
  std::unique_ptr<storage::EncryptingBlobStore> blobs_;
  std::unique_ptr<Archive> archive_;
  std::unique_ptr<Volumes> volumes_;
  std::unique_ptr<Segmentations> segmentations_;
  std::unique_ptr<SegmentationImporter> importer_;
  std::vector<std::string> series_;
  std::int64_t a_ = 0, b_ = 0;
};

TEST_F(SegmentationImportTest, AStoredSegBecomesAnImportedVersionOfItsSourceWithItsSegmentsAndOrigin) {
  Store(a_, series_);
  auto source = Source(a_);
  auto boxes = Boxes(source.volume.geometry);
  dicom::LabelVolume labels{source.volume.geometry, boxes[1]};  // one segment: BINARY of box 1
  dicom::SegWriteOptions options;
  options.manufacturer = "OtherTool";
  options.software_version = "5.1";
  options.series_description = "From elsewhere";
  auto seg = dicom::WriteBinarySeg(source.any_image, source.volume, labels, {Segments()[0]}, options);
  ASSERT_TRUE(seg) << seg.error().public_message << " | " << seg.error().detail;
  const auto header = *dicom::ReadSegHeader(*seg);
  Store(a_, {*seg});
  EXPECT_EQ(Import(), 1);
  auto record = catalog_->FindImport(a_, header.sop_uid);
  ASSERT_TRUE(record && *record);
  ASSERT_EQ((*record)->state, "imported") << (*record)->message;
  auto version = segmentations_->Find(a_, *(*record)->segmentation_id);
  ASSERT_TRUE(version);
  const auto& r = version->record;
  EXPECT_EQ(r.source, "imported");
  EXPECT_EQ(r.source_series_uid, kSeries);
  EXPECT_EQ(r.seg_sop_uid, header.sop_uid);
  EXPECT_EQ(r.origin_format, "SEG");
  EXPECT_EQ(r.origin_manufacturer, "OtherTool");
  EXPECT_EQ(r.origin_software, "5.1");
  EXPECT_EQ(r.origin_description, "From elsewhere");
  EXPECT_EQ(r.layers, 1);
  auto segments = SegmentsFromJson(r.segments_json);
  ASSERT_EQ(segments.size(), 1u);
  EXPECT_EQ(segments[0].name, "Liver");
  auto back = segmentations_->Labels(a_, r);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->labels, labels.labels);
  // Looked at once: the next pass has nothing to do.
  EXPECT_EQ(Import(), 0);
}

TEST_F(SegmentationImportTest, ASegWithLatin1AndOverlongNamesIsImportedWithValidUtf8Text) {
  Store(a_, series_);
  auto source = Source(a_);
  dicom::LabelVolume labels{source.volume.geometry, Boxes(source.volume.geometry)[1]};
  auto written = dicom::WriteBinarySeg(source.any_image, source.volume, labels, {Segments()[0]}, {});
  ASSERT_TRUE(written) << written.error().detail;
  // As another tool may send it: ISO 8859-1 text, and a label past 64 bytes.
  auto loaded = dicom::LoadFromMemory(*written);
  ASSERT_TRUE(loaded);
  DcmItem* item = nullptr;
  ASSERT_TRUE(loaded->dataset->findAndGetSequenceItem(DCM_SegmentSequence, item, 0).good() && item);
  ASSERT_TRUE(item->putAndInsertString(DCM_SegmentLabel, (std::string("L\xE4sion ") + std::string(80, 'x')).c_str()).good());
  ASSERT_TRUE(loaded->dataset->putAndInsertString(DCM_Manufacturer, "M\xFCller").good());
  ASSERT_TRUE(loaded->dataset->putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 100").good());
  auto seg = dicom::WriteFileToString(*loaded->file);
  ASSERT_TRUE(seg) << seg.error().detail;
  const std::string sop = dicom::ReadSegHeader(*seg)->sop_uid;
  Store(a_, {*seg});
  EXPECT_EQ(Import(), 1);
  auto record = catalog_->FindImport(a_, sop);
  ASSERT_TRUE(record && *record);
  ASSERT_EQ((*record)->state, "imported") << (*record)->message;
  auto version = segmentations_->Find(a_, *(*record)->segmentation_id);
  ASSERT_TRUE(version);
  EXPECT_EQ(version->record.origin_manufacturer, "M\xC3\xBCller");
  auto segments = nlohmann::json::parse(version->record.segments_json);  // valid JSON: it parses
  const std::string name = segments[0]["name"].get<std::string>();
  EXPECT_EQ(name.rfind("L\xC3\xA4sion ", 0), 0u);
  EXPECT_LE(name.size(), 64u);
}

TEST_F(SegmentationImportTest, AVersionMadeBeforeItsRecordIsRecordedNotImportedAgain) {
  Store(a_, series_);
  auto source = Source(a_);
  NewSegmentation request;
  request.source_series_uid = kSeries;
  request.segments = {Segments()[0]};
  request.author = "rad";
  request.labels = dicom::LabelVolume{source.volume.geometry, Boxes(source.volume.geometry)[1]};
  auto created = segmentations_->Create(a_, std::move(request));
  ASSERT_TRUE(created) << created.error().detail;
  // As if the record was never written (a voxelgate SEG from before imports, or a crash
  // between the version and its record).
  ASSERT_TRUE(catalog_->RecordImport({a_, created->record.seg_sop_uid, "failed", ""}));
  auto raw = storage::sql::Db::OpenSqlite((dir_ / "catalog.db").string(), false);
  ASSERT_TRUE(raw);
  ASSERT_TRUE(raw->Exec("DELETE FROM segmentation_imports"));
  EXPECT_EQ(Import(), 1);
  auto record = catalog_->FindImport(a_, created->record.seg_sop_uid);
  ASSERT_TRUE(record && *record);
  EXPECT_EQ((*record)->state, "internal");
  EXPECT_EQ((*record)->segmentation_id, created->record.id);
  EXPECT_EQ(segmentations_->List(a_, kStudy, std::nullopt)->size(), 1u);
  EXPECT_EQ(Import(), 0);
}

TEST_F(SegmentationImportTest, VoxelgatesOwnSegIsNeverImported) {
  Store(a_, series_);
  auto source = Source(a_);
  NewSegmentation request;
  request.source_series_uid = kSeries;
  request.segments = {Segments()[0]};
  request.author = "rad";
  request.labels = dicom::LabelVolume{source.volume.geometry, Boxes(source.volume.geometry)[1]};
  auto created = segmentations_->Create(a_, std::move(request));
  ASSERT_TRUE(created) << created.error().detail;
  EXPECT_EQ(Import(), 0);
  EXPECT_EQ(segmentations_->List(a_, kStudy, std::nullopt)->size(), 1u);
  EXPECT_EQ((*catalog_->FindImport(a_, created->record.seg_sop_uid))->state, "internal");
}

TEST_F(SegmentationImportTest, ASegWaitsForItsSourceInItsOwnClinicOnlyAndIsImportedWhenItArrives) {
  Store(a_, series_);
  auto source = Source(a_);
  dicom::LabelVolume labels{source.volume.geometry, Boxes(source.volume.geometry)[2]};
  for (auto& v : labels.labels) v = v ? 2 : 0;
  auto seg = dicom::WriteBinarySeg(source.any_image, source.volume, labels, {Segments()[1]}, {});
  ASSERT_TRUE(seg);
  const std::string sop = dicom::ReadSegHeader(*seg)->sop_uid;
  Store(b_, {*seg});  // beta holds the SEG; only alpha holds the series it names
  EXPECT_EQ(Import(SegmentationImporter::kQuietSeconds), 1);
  auto waiting = catalog_->FindImport(b_, sop);
  ASSERT_TRUE(waiting && *waiting);
  EXPECT_EQ((*waiting)->state, "waiting");
  EXPECT_EQ((*waiting)->referenced_series_uid, kSeries);
  EXPECT_TRUE(segmentations_->List(a_, kStudy, std::nullopt)->empty()) << "alpha's series got beta's SEG";
  EXPECT_EQ(Import(), 0) << "nothing new in beta: it keeps waiting without being looked at again";

  Store(b_, series_);
  EXPECT_EQ(Import(), 1);
  auto imported = catalog_->FindImport(b_, sop);
  ASSERT_EQ((*imported)->state, "imported") << (*imported)->message;
  auto version = segmentations_->Find(b_, *(*imported)->segmentation_id);
  ASSERT_TRUE(version);
  // The SEG numbers its one segment 1 (WriteBinarySeg numbers segments 1..n).
  auto expected = labels.labels;
  for (auto& v : expected) v = v ? 1 : 0;
  EXPECT_EQ(segmentations_->Labels(b_, version->record)->labels, expected);
  EXPECT_TRUE(segmentations_->List(a_, kStudy, std::nullopt)->empty());
}

TEST_F(SegmentationImportTest, AnRtStructBecomesAVersionWithTheSameVoxelsNameAndColour) {
  Store(a_, series_);
  auto source = Source(a_);
  dicom::LabelVolume one{source.volume.geometry, Boxes(source.volume.geometry)[1]};
  auto rt_one = dicom::WriteRtStruct(source.any_image, source.volume, one, {Segments()[0]}, {});
  ASSERT_TRUE(rt_one) << rt_one.error().detail;
  auto header = dicom::ReadRtStruct(*rt_one);
  ASSERT_TRUE(header);
  Store(a_, {*rt_one});
  EXPECT_EQ(Import(), 1);
  auto record = catalog_->FindImport(a_, header->sop_uid);
  ASSERT_TRUE(record && *record);
  ASSERT_EQ((*record)->state, "imported") << (*record)->message;
  auto version = segmentations_->Find(a_, *(*record)->segmentation_id);
  ASSERT_TRUE(version);
  EXPECT_EQ(version->record.origin_format, "RTSTRUCT");
  EXPECT_EQ(version->record.origin_manufacturer, "voxelgate");
  auto back = segmentations_->Labels(a_, version->record);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->labels, one.labels) << "contours traced on voxel edges rasterise back exactly";
  auto segments = SegmentsFromJson(version->record.segments_json);
  ASSERT_EQ(segments.size(), 1u);
  EXPECT_EQ(segments[0].name, "Liver");
  EXPECT_EQ(segments[0].rgb, (std::array<std::uint8_t, 3>{200, 100, 50}));
}

}  // namespace
}  // namespace vg::services::segmentation_import_test
