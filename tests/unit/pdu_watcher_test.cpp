// The PDU watcher that reads along with DCMTK on each association: what it refuses (PDU
// sizes, deep command sets and identifiers however they are fragmented) and what it lets
// through (a C-STORE's data set, decided by DCMTK's own reading of the command set).
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "dimse/pdu_watcher.h"

namespace vg::dimse {
namespace {

constexpr const char* kImplicitLe = "1.2.840.10008.1.2";
constexpr std::uint8_t kContext = 1;

void Le(std::string& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}
void Be(std::string& out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

std::span<const std::uint8_t> Span(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// An A-ASSOCIATE-AC accepting presentation context 1 with Implicit VR Little Endian.
std::string AssociateAc() {
  std::string body;
  Be(body, 1, 2), Be(body, 0, 2);
  body += std::string(16, ' ') + std::string(16, ' ') + std::string(32, '\0');
  std::string ts;
  ts.push_back(0x40), ts.push_back(0), Be(ts, std::string(kImplicitLe).size(), 2), ts += kImplicitLe;
  std::string context;
  context.push_back(0x21), context.push_back(0), Be(context, 4 + ts.size(), 2);
  context.push_back(static_cast<char>(kContext)), context.push_back(0), context.push_back(0), context.push_back(0);
  context += ts;
  body += context;
  std::string pdu;
  pdu.push_back(0x02), pdu.push_back(0), Be(pdu, body.size(), 4);
  return pdu + body;
}

// One P-DATA-TF PDU holding one PDV.
std::string Pdv(const std::string& data, bool command, bool last) {
  std::string pdv;
  Be(pdv, data.size() + 2, 4);
  pdv.push_back(static_cast<char>(kContext));
  pdv.push_back(static_cast<char>((command ? 1 : 0) | (last ? 2 : 0)));
  pdv += data;
  std::string pdu;
  pdu.push_back(0x04), pdu.push_back(0), Be(pdu, pdv.size(), 4);
  return pdu + pdv;
}

// Implicit VR Little Endian element.
void Element(std::string& out, std::uint16_t group, std::uint16_t element, const std::string& value) {
  Le(out, group, 2), Le(out, element, 2), Le(out, value.size(), 4), out += value;
}
std::string Us(std::uint16_t v) {
  std::string out;
  Le(out, v, 2);
  return out;
}

// A command set: CommandField `field`, a data set following unless `no_dataset`.
std::string Command(std::uint16_t field, bool no_dataset = false) {
  std::string body;
  Element(body, 0x0000, 0x0002, std::string("1.2.840.10008.5.1.4.1.2.2.1", 28));
  Element(body, 0x0000, 0x0100, Us(field));
  Element(body, 0x0000, 0x0110, Us(1));
  Element(body, 0x0000, 0x0800, Us(no_dataset ? 0x0101 : 0x0000));
  std::string out;
  Element(out, 0x0000, 0x0000, std::string("\0\0\0\0", 4));
  std::uint32_t length = static_cast<std::uint32_t>(body.size());
  std::memcpy(out.data() + 8, &length, 4);
  return out + body;
}

// `depth` nested sequences of undefined length (Implicit VR), each with one item.
std::string Nested(int depth) {
  std::string out;
  for (int i = 0; i < depth; ++i) {
    Le(out, 0x0008, 2), Le(out, 0x1115, 2), Le(out, 0xFFFFFFFF, 4);
    Le(out, 0xFFFE, 2), Le(out, 0xE000, 2), Le(out, 0xFFFFFFFF, 4);
  }
  return out;
}

class PduWatcherTest : public ::testing::Test {
 protected:
  PduWatcherTest() : watcher_(PduLimits{}) { watcher_.OnSent(Span(AssociateAc())); }
  // Sends `data` as PDVs of `step` bytes each; returns the first refusal.
  Result<void> Send(const std::string& data, bool command, std::size_t step) {
    for (std::size_t at = 0; at < data.size(); at += step) {
      const bool last = at + step >= data.size();
      if (auto ok = watcher_.OnReceived(Span(Pdv(data.substr(at, step), command, last))); !ok) return ok;
    }
    return {};
  }
  PduWatcher watcher_;
};

TEST_F(PduWatcherTest, AFindIdentifierNestedPastTheLimitIsRefusedInOneByteFragments) {
  ASSERT_TRUE(Send(Command(0x0020), true, 1000));
  auto refused = Send(Nested(200), false, 1);
  ASSERT_FALSE(refused);
  EXPECT_EQ(watcher_.refused_limit(), "max_dicom_depth");
}

TEST_F(PduWatcherTest, AShallowFindIdentifierPasses) {
  ASSERT_TRUE(Send(Command(0x0020), true, 7));
  EXPECT_TRUE(Send(Nested(10), false, 3));
  EXPECT_TRUE(watcher_.refused_limit().empty());
}

TEST_F(PduWatcherTest, ACommandSetNestedPastTheLimitIsRefused) {
  std::string command = Command(0x0020) + Nested(200);
  auto refused = Send(command, true, 5);
  ASSERT_FALSE(refused);
  EXPECT_EQ(watcher_.refused_limit(), "max_dicom_depth");
}

TEST_F(PduWatcherTest, AStoreDataSetIsPassedThroughToBeCheckedWhereItIsParsed) {
  ASSERT_TRUE(Send(Command(0x0001), true, 1000));
  EXPECT_TRUE(Send(Nested(200), false, 64));
}

TEST_F(PduWatcherTest, ACommandDcmtkReadsAsAFindIsWatchedWhateverFollowsIt) {
  // A second CommandField naming C-STORE after the first (C-FIND): DIMSE acts on the
  // first, so the identifier that follows must still be watched.
  std::string command = Command(0x0020);
  Element(command, 0x0000, 0x0100, Us(0x0001));
  ASSERT_TRUE(Send(command, true, 1000));
  EXPECT_FALSE(Send(Nested(200), false, 50));
}

TEST_F(PduWatcherTest, AnUnreadableCommandHasItsDataSetWatched) {
  std::string command;
  Element(command, 0x0000, 0x0800, Us(0x0000));  // no CommandField at all
  ASSERT_TRUE(Send(command, true, 1000));
  EXPECT_FALSE(Send(Nested(200), false, 50));
}

TEST_F(PduWatcherTest, ACommandSetWithAValueLongerThanItselfIsRefusedBeforeDcmtkAllocatesIt) {
  std::string command = Command(0x0020);
  Le(command, 0x0000, 2), Le(command, 0x0900, 2), Le(command, 0xFFFFFF00, 4);  // 4 GiB declared, none sent
  auto refused = Send(command, true, 1000);
  ASSERT_FALSE(refused);
  EXPECT_EQ(watcher_.refused_limit(), "malformed_pdu");
}

TEST_F(PduWatcherTest, AnIdentifierWithAValueLongerThanItselfIsRefused) {
  ASSERT_TRUE(Send(Command(0x0020), true, 1000));
  std::string identifier;
  Element(identifier, 0x0008, 0x0052, "STUDY ");
  Le(identifier, 0x0010, 2), Le(identifier, 0x0010, 2), Le(identifier, 0xFFFFFF00, 4);
  auto refused = Send(identifier, false, 7);
  ASSERT_FALSE(refused);
  EXPECT_EQ(watcher_.refused_limit(), "malformed_pdu");
}

TEST_F(PduWatcherTest, AnIdentifierOverItsByteLimitIsRefused) {
  ASSERT_TRUE(Send(Command(0x0020), true, 1000));
  std::string big;
  Element(big, 0x0010, 0x0010, std::string((1u << 20) + 2, 'A'));
  auto refused = Send(big, false, 60000);
  ASSERT_FALSE(refused);
  EXPECT_EQ(watcher_.refused_limit(), "max_identifier_bytes");
}

TEST_F(PduWatcherTest, APduOverTheAnnouncedMaximumIsRefusedFromItsHeader) {
  std::string header;
  header.push_back(0x04), header.push_back(0), Be(header, 200 * 1024, 4);
  auto refused = watcher_.OnReceived(Span(header));
  ASSERT_FALSE(refused);
  EXPECT_EQ(watcher_.refused_limit(), "max_pdu");
}

TEST_F(PduWatcherTest, MessagesFollowOneAnotherOnOneAssociation) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Send(Command(0x0020), true, 9));
    ASSERT_TRUE(Send(Nested(20), false, 11));
  }
  EXPECT_TRUE(Send(Command(0x0001), true, 9));
  EXPECT_TRUE(Send(Nested(300), false, 100));  // a C-STORE's, passed through
  ASSERT_TRUE(Send(Command(0x0020), true, 9));
  EXPECT_FALSE(Send(Nested(300), false, 100));
}

}  // namespace
}  // namespace vg::dimse
