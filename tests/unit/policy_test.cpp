#include <gtest/gtest.h>

#include "auth/policy.h"
#include "auth/tokens.h"

namespace vg::auth {
namespace {

Principal Token(std::string owner_role, std::vector<std::string> scopes) {
  Principal p;
  p.credential = Credential::kToken;
  p.tenant_id = p.home_tenant_id = 1;
  p.username = "owner";
  p.role = std::move(owner_role);
  p.token_name = "script";
  p.scopes = std::move(scopes);
  return p;
}
Principal Person(std::string role) {
  Principal p;
  p.tenant_id = p.home_tenant_id = 1;
  p.user_id = 7;
  p.username = "someone";
  p.role = std::move(role);
  p.session_id = 3;
  return p;
}

TEST(Policy, TokensNeedTheActionsScope) {
  EXPECT_TRUE(Authorize(Token("service", {kScopeDicomwebRead}), "dicomweb.qido"));
  EXPECT_FALSE(Authorize(Token("service", {kScopeDicomwebRead}), "dicomweb.stow"));
  EXPECT_TRUE(Authorize(Token("service", {kScopeDicomwebWrite}), "dicomweb.stow"));
  EXPECT_EQ(Authorize(Token("service", {}), "dicomweb.wado").error().code, ErrorCode::kForbidden);
}

TEST(Policy, ATokenNeverDoesMoreThanItsOwnersRole) {
  // An uploader's token with a read scope still cannot read: the role decides too.
  EXPECT_FALSE(Authorize(Token("uploader", {kScopeDicomwebRead, kScopeDicomwebWrite}), "dicomweb.qido"));
  EXPECT_TRUE(Authorize(Token("uploader", {kScopeDicomwebWrite}), "dicomweb.stow"));
  EXPECT_FALSE(Authorize(Token("radiologist", {kScopeAdmin}), "users.read"));
  EXPECT_FALSE(RoleCanUseScope("radiologist", kScopeAdmin));
  EXPECT_FALSE(RoleCanUseScope("uploader", kScopeDicomwebRead));
  EXPECT_TRUE(RoleCanUseScope("clinic_admin", kScopeAdmin));
}

TEST(Policy, TokensCannotManageCredentials) {
  EXPECT_FALSE(Authorize(Token("clinic_admin", {kScopeAdmin}), "tokens.write"));
  EXPECT_FALSE(Authorize(Token("clinic_admin", {kScopeAdmin}), "self.password"));
  EXPECT_FALSE(Authorize(Token("clinic_admin", {kScopeAdmin}), "grants.write"));
}

TEST(Policy, ClinicRolesReadAndStoreVendorRolesDoNot) {
  for (const char* role : {"clinic_admin", "radiologist", "physician"}) {
    EXPECT_TRUE(Authorize(Person(role), "dicomweb.qido")) << role;
    EXPECT_TRUE(Authorize(Person(role), "dicomweb.stow")) << role;
  }
  for (const char* role : {"provider_admin", "provider_support"}) {
    auto refused = Authorize(Person(role), "dicomweb.wado");
    ASSERT_FALSE(refused) << role;
    EXPECT_NE(refused.error().public_message.find("support grant"), std::string::npos);
  }
}

TEST(Policy, ASupportGrantAllowsReadingOnly) {
  Principal support = Person("provider_support");
  support.support_grant_id = 4;
  EXPECT_TRUE(Authorize(support, "dicomweb.wado"));
  EXPECT_TRUE(Authorize(support, "dicomweb.qido"));
  EXPECT_FALSE(Authorize(support, "dicomweb.stow"));
  EXPECT_FALSE(Authorize(support, "users.read"));
  support.granted_studies = {"1.2.3"};
  EXPECT_TRUE(support.MayReadStudy("1.2.3"));
  EXPECT_FALSE(support.MayReadStudy("1.2.4"));
}

TEST(Policy, DicomNodesActByTheirRole) {
  Principal node;
  node.credential = Credential::kDicomNode;
  node.role = "uploader";
  EXPECT_TRUE(Authorize(node, "dimse.store"));
  EXPECT_FALSE(Authorize(node, "dimse.find"));
  EXPECT_FALSE(Authorize(node, "dimse.move"));
  node.role = "service";
  EXPECT_TRUE(Authorize(node, "dimse.get"));
}

TEST(Policy, ActionsWithoutAnEntryAreRefused) {
  EXPECT_FALSE(Authorize(Token("service", {kScopeDicomwebRead, kScopeDicomwebWrite}), "dicomweb.delete"));
  EXPECT_FALSE(Authorize(Person("clinic_admin"), "not.an.action"));
}

TEST(Policy, EveryGuardedEntryNamesKnownRolesAndPublicOnesNone) {
  for (const auto& policy : Policies()) {
    EXPECT_EQ(policy.is_public, policy.roles.empty()) << policy.action;
    for (auto role : policy.roles)
      EXPECT_NE(std::find(AllRoles().begin(), AllRoles().end(), role), AllRoles().end()) << policy.action;
    if (!policy.scope.empty()) {
      EXPECT_TRUE(IsKnownScope(policy.scope)) << policy.action;
    }
    // Grants only ever cover reads of clinic data.
    if (policy.grantable) {
      EXPECT_EQ(policy.scope, kScopeDicomwebRead) << policy.action;
    }
  }
}

}  // namespace
}  // namespace vg::auth
