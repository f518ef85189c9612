#include "security/principal.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace bastion::security {
namespace {

using ::testing::ElementsAre;

TEST(PermissionSetTest, ParseAndToString) {
  std::string bad = "untouched";
  auto p = PermissionSet::Parse("echo,store", &bad);
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->Has(Permission::kEcho));
  EXPECT_TRUE(p->Has(Permission::kStore));
  EXPECT_FALSE(p->Has(Permission::kFind));
  EXPECT_FALSE(p->Has(Permission::kMove));
  EXPECT_FALSE(p->Has(Permission::kGet));
  EXPECT_FALSE(p->Has(Permission::kAdmin));
  EXPECT_EQ(p->ToString(), "echo,store");
  EXPECT_THAT(p->Names(), ElementsAre("echo", "store"));
}

TEST(PermissionSetTest, ParseToleratesSpacesAndOrderAndRepeats) {
  auto p = PermissionSet::Parse(" get , find,echo,, find ");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->ToString(), "echo,find,get");  // canonical order
  auto again = PermissionSet::Parse(p->ToString());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, *p);
}

TEST(PermissionSetTest, AllDicomPermissionsRoundTrip) {
  auto p = PermissionSet::Parse("echo,store,find,move,get");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->ToString(), "echo,store,find,move,get");
  EXPECT_EQ(*PermissionSet::Parse(p->ToString()), *p);
}

TEST(PermissionSetTest, UnknownWordIsNamed) {
  std::string bad;
  EXPECT_FALSE(PermissionSet::Parse("echo,delete,store", &bad).has_value());
  EXPECT_EQ(bad, "delete");
  EXPECT_FALSE(PermissionSet::Parse("ECHO", &bad).has_value());
  EXPECT_EQ(bad, "ECHO");
  EXPECT_FALSE(PermissionSet::Parse("echo;store", &bad).has_value());
  EXPECT_FALSE(PermissionSet::Parse("stor", nullptr).has_value());  // no out-parameter: still rejected
}

TEST(PermissionSetTest, AdminIsNotGrantableThroughTheList) {
  std::string bad;
  EXPECT_FALSE(PermissionSet::Parse("echo,admin", &bad).has_value());
  EXPECT_EQ(bad, "admin");
}

TEST(PermissionSetTest, EmptyAndAll) {
  PermissionSet none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.ToString(), "");
  auto parsed = PermissionSet::Parse("");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_TRUE(parsed->empty());

  PermissionSet all = PermissionSet::All();
  EXPECT_FALSE(all.empty());
  for (Permission p : {Permission::kEcho, Permission::kStore, Permission::kFind, Permission::kMove,
                       Permission::kGet, Permission::kAdmin})
    EXPECT_TRUE(all.Has(p));
  PermissionSet one;
  one.Add(Permission::kFind);
  EXPECT_EQ(one.ToString(), "find");
  EXPECT_NE(one, all);
}

TEST(PermissionSetTest, PeoplesPermissionsAreNotNodeServices) {
  // The values are stable (stored nowhere as bits today, but kept that way).
  EXPECT_EQ(static_cast<std::uint32_t>(Permission::kAdmin), 1u << 5);
  EXPECT_EQ(static_cast<std::uint32_t>(Permission::kReceive), 1u << 6);
  EXPECT_EQ(static_cast<std::uint32_t>(Permission::kView), 1u << 7);
  EXPECT_EQ(static_cast<std::uint32_t>(Permission::kAudit), 1u << 8);
  PermissionSet all = PermissionSet::All();
  EXPECT_TRUE(all.Has(Permission::kView));
  EXPECT_TRUE(all.Has(Permission::kAudit));
  EXPECT_EQ(all.ToString(), "echo,store,find,move,get,admin,receive,view,audit");
  EXPECT_TRUE(PermissionSet::Parse("receive").has_value());
  for (const char* word : {"admin", "view", "audit"}) {
    std::string bad;
    EXPECT_FALSE(PermissionSet::Parse(word, &bad).has_value()) << word;
    EXPECT_EQ(bad, word);
  }
}

TEST(PrincipalTest, KindNamesAndMay) {
  Principal p;
  p.kind = PrincipalKind::kNode;
  EXPECT_EQ(p.KindName(), "node");
  p.kind = PrincipalKind::kUser;
  EXPECT_EQ(p.KindName(), "user");
  p.kind = PrincipalKind::kToken;
  EXPECT_EQ(p.KindName(), "token");
  EXPECT_FALSE(p.May(Permission::kStore));  // nothing by default
  p.permissions.Add(Permission::kStore);
  EXPECT_TRUE(p.May(Permission::kStore));
  EXPECT_FALSE(p.May(Permission::kGet));
}

TEST(PrincipalTest, LocalOperatorMayDoEverything) {
  Principal op = Principal::LocalOperator();
  EXPECT_EQ(op.kind, PrincipalKind::kLocalOperator);
  EXPECT_EQ(op.KindName(), "local-operator");
  EXPECT_FALSE(op.id.empty());
  EXPECT_EQ(op.permissions, PermissionSet::All());
}

}  // namespace
}  // namespace bastion::security
