#include "common/json_writer.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "gtest/gtest.h"
#include "proto/replica_service.pb.h"

namespace report {
namespace {

// What a strict JSON parser makes of `json` (protobuf's, which refuses invalid
// escapes and invalid UTF-8).
bool Parses(const std::string& json) {
  google::protobuf::Value value;
  return google::protobuf::util::JsonStringToMessage(json, &value).ok();
}

TEST(JsonWriterTest, QuotesAndBackslashesAreEscaped) {
  EXPECT_EQ(JsonQuote("a\"b\\c"), R"("a\"b\\c")");
}

TEST(JsonWriterTest, ControlCharactersAreEscaped) {
  EXPECT_EQ(JsonQuote("a\nb\rc\td"), R"("a\nb\rc\td")");
  EXPECT_EQ(JsonQuote(std::string("\x01\x1f", 2)), R"("\u0001\u001f")");
  EXPECT_EQ(JsonQuote(std::string("a\0b", 3)), R"("a\u0000b")");
}

TEST(JsonWriterTest, ValidUtf8PassesThrough) {
  EXPECT_EQ(JsonQuote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
}

TEST(JsonWriterTest, InvalidUtf8BecomesTheReplacementCharacter) {
  // A lone continuation byte, a truncated sequence, an overlong '/', a
  // surrogate.
  EXPECT_EQ(JsonQuote("a\x80z"), R"("a\ufffdz")");
  EXPECT_EQ(JsonQuote("a\xe2\x82"), R"("a\ufffd\ufffd")");
  EXPECT_EQ(JsonQuote("\xc0\xaf"), R"("\ufffd\ufffd")");
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");
  EXPECT_TRUE(Parses(JsonQuote("\xff\xfe bad \x80")));
}

TEST(JsonWriterTest, EveryByteValueGivesParsableJson) {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  JsonWriter json;
  json.BeginObject().Key(all).String(all).EndObject();
  EXPECT_TRUE(Parses(json.Finish()));
}

TEST(JsonWriterTest, CompactLayoutIsOneLine) {
  JsonWriter json;
  json.BeginObject()
      .Key("name")
      .String("x y")
      .Key("n")
      .Int(-3)
      .Key("u")
      .Uint(18446744073709551615u)
      .Key("ok")
      .Bool(true)
      .Key("none")
      .Null()
      .Key("list")
      .StringList({"a", "b"})
      .Key("empty")
      .BeginArray()
      .EndArray()
      .EndObject();
  EXPECT_EQ(json.Finish(),
            "{\"name\":\"x y\",\"n\":-3,\"u\":18446744073709551615,"
            "\"ok\":true,\"none\":null,\"list\":[\"a\",\"b\"],\"empty\":[]}\n");
}

TEST(JsonWriterTest, IndentedLayoutPutsEachMemberOnALine) {
  JsonWriter json(JsonWriter::Layout::kIndented);
  json.BeginObject()
      .Key("a")
      .Int(1)
      .Key("b")
      .BeginArray()
      .String("x")
      .EndArray()
      .Key("c")
      .BeginObject()
      .EndObject()
      .EndObject();
  EXPECT_EQ(json.Finish(),
            "{\n  \"a\": 1,\n  \"b\": [\n    \"x\"\n  ],\n"
            "  \"c\": {}\n}\n");
}

TEST(JsonWriterTest, MessagesUseTheProtobufMappingOnOneLine) {
  Receipt receipt;
  receipt.set_request_id("r\"1\n");
  receipt.set_accepted_offset(7);
  const std::string line = MessageToJsonLine(receipt);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  Receipt back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &back).ok());
  EXPECT_EQ(back.request_id(), "r\"1\n");
  EXPECT_EQ(back.accepted_offset(), 7u);
  // Every field is present, also at its default value.
  EXPECT_NE(line.find("\"duplicate\":false"), std::string::npos) << line;

  JsonWriter json;
  json.BeginObject().Key("receipt").Message(receipt).EndObject();
  EXPECT_EQ(json.Finish(), "{\"receipt\":" + line + "}\n");
}

}  // namespace
}  // namespace report
