# psc_protobuf_c(<target> <file.proto>)
# Generates <file>.pb-c.c/.h with protoc-c into the build tree and builds them as the
# static library <target>, linked to libprotobuf-c.
find_program(PROTOC_C NAMES protoc-c protoc-gen-c REQUIRED)

function(psc_protobuf_c target proto)
	get_filename_component(proto_abs ${proto} ABSOLUTE)
	get_filename_component(proto_dir ${proto_abs} DIRECTORY)
	get_filename_component(base ${proto} NAME_WE)
	set(out_c ${CMAKE_CURRENT_BINARY_DIR}/${base}.pb-c.c)
	set(out_h ${CMAKE_CURRENT_BINARY_DIR}/${base}.pb-c.h)
	add_custom_command(
		OUTPUT ${out_c} ${out_h}
		COMMAND ${PROTOC_C} --proto_path=${proto_dir} --c_out=${CMAKE_CURRENT_BINARY_DIR} ${proto_abs}
		DEPENDS ${proto_abs}
		COMMENT "protoc-c ${base}.proto"
		VERBATIM)
	add_library(${target} STATIC ${out_c})
	target_include_directories(${target} PUBLIC ${CMAKE_CURRENT_BINARY_DIR})
	target_link_libraries(${target} PUBLIC PkgConfig::PROTOBUF_C)
	# Generated code is not ours to warn about.
	target_compile_options(${target} PRIVATE -w)
endfunction()
