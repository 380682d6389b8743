#include <gtest/gtest.h>

#include "auth/policy.h"

namespace vg::auth {
namespace {

Principal Token(std::vector<std::string> scopes) { return Principal{1, "clinic", "script", std::move(scopes)}; }
Principal Person(std::string role) { return Principal{1, "clinic", "someone", {}, 7, "someone", std::move(role), 3}; }

TEST(Policy, TokensNeedTheActionsScope) {
  EXPECT_TRUE(Authorize(Token({kScopeDicomwebRead}), "dicomweb.qido"));
  EXPECT_FALSE(Authorize(Token({kScopeDicomwebRead}), "dicomweb.stow"));
  EXPECT_TRUE(Authorize(Token({kScopeDicomwebWrite}), "dicomweb.stow"));
  EXPECT_EQ(Authorize(Token({}), "dicomweb.wado").error().code, ErrorCode::kForbidden);
}

TEST(Policy, ClinicRolesReadAndStoreVendorRolesDoNot) {
  for (const char* role : {"clinic_admin", "radiologist", "physician"}) {
    EXPECT_TRUE(Authorize(Person(role), "dicomweb.qido")) << role;
    EXPECT_TRUE(Authorize(Person(role), "dicomweb.stow")) << role;
  }
  for (const char* role : {"provider_admin", "provider_support"}) {
    auto refused = Authorize(Person(role), "dicomweb.wado");
    ASSERT_FALSE(refused) << role;
    EXPECT_NE(refused.error().public_message.find(role), std::string::npos);
  }
}

TEST(Policy, ActionsWithoutAnEntryAreRefused) {
  EXPECT_FALSE(Authorize(Token({kScopeDicomwebRead, kScopeDicomwebWrite}), "dicomweb.delete"));
  EXPECT_FALSE(Authorize(Person("clinic_admin"), "not.an.action"));
}

TEST(Policy, EveryEntryNamesAScopeAndAtLeastOneRole) {
  for (const auto& policy : Policies()) {
    EXPECT_FALSE(policy.scope.empty()) << policy.action;
    EXPECT_FALSE(policy.roles.empty()) << policy.action;
  }
}

}  // namespace
}  // namespace vg::auth
